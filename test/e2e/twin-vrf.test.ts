/**
 * Twin networks with real VRF devices and a real 802.1Q side: boots Debian's kernel in the kernel
 * lab (test/lib/kernel-lab.ts) and runs test/lib/kernel-lab/twin-guest.ts there — the VRF variant
 * chosen by `variant = auto`, then the policy variant, on the same boot. Every guest check is one
 * assertion here.
 */
import t from 'tap';
import { boot, bundle, labUnavailable, prepareKernel } from '../lib/kernel-lab.js';
import { ROOT } from '../lib/vmrouter.js';

const missing = labUnavailable();
t.test('twin networks in the kernel lab (VRF, 802.1Q)', { skip: missing ?? false }, async (t) => {
  const kernel = prepareKernel();
  const script = bundle(`${ROOT}/test/lib/kernel-lab/twin-guest.ts`);
  const r = await boot(kernel, `${process.execPath} ${script}`);
  t.comment(`kernel ${kernel.release}: boot and run took ${r.seconds.toFixed(1)} s`);
  for (const line of r.output.split('\n')) if (line.startsWith('TIME ')) t.comment(line);
  const checks = r.output.split('\n').filter((l) => l.startsWith('CHECK ')).map((l) => JSON.parse(l.slice(6)) as { ok: boolean; name: string; detail?: string });
  t.ok(checks.length >= 100, `the guest reported its checks (${checks.length})`);
  for (const c of checks) if (!t.ok(c.ok, c.name) && c.detail) t.comment(c.detail);
  if (!t.equal(r.code, 0, 'the guest scenario exited 0')) t.comment(`output:\n${r.output.slice(-4000)}\nconsole:\n${r.console.slice(-4000)}`);
});
