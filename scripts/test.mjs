// Runs the whole test suite with tap and ends with the line CI reads: "N passed, N failed"
// (assertions, from tap's own final count). Exit status: tap's, or 1 when anything failed.
import { spawn } from 'node:child_process';

const args = ['--no-install', 'tap', '--reporter=tap', ...process.argv.slice(2)];
// NODE_EXTRA_CA_CERTS costs ~45 ms per node start on these machines; the tests start vmrouter often.
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'], env });
let last = null;
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).split('\n').slice(-50).join('\n');
});
child.on('close', (code) => {
  // tap's closing comment: "# { total: 102, pass: 100, fail: 1, skip: 1 }"
  for (const line of tail.split('\n')) {
    const m = /^# \{ total: (\d+)(.*)\}$/.exec(line.trim());
    if (m) last = { total: Number(m[1]), ...Object.fromEntries([...m[2].matchAll(/(\w+): (\d+)/g)].map(([, k, v]) => [k, Number(v)])) };
  }
  if (!last) {
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  const failed = last.fail ?? 0;
  const skipped = last.skip ?? 0;
  console.log(`${last.pass ?? 0} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(code !== 0 || failed > 0 ? 1 : 0);
});
