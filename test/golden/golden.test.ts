/**
 * Golden files: for every case directory under test/golden/cases, the built binary's output for
 * `generate` (both styles, and --rt-tables), `plan up|down --from-scratch` and `plan tap up
 * --from-scratch` (and `frr` for routing = bgp) must equal the files in the case's expected/ directory byte for byte.
 *
 * UPDATE_GOLDEN=1 writes the expected files instead of comparing. Read every changed file before
 * committing it: the golden files are only as right as the person who checked them.
 *
 * The config is passed relative to the project root (the commands run there), so the path that
 * `generate` writes into its headers does not depend on where the checkout lives.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t, { type Test } from 'tap';
import { NETWORK_KEYS } from '../../src/features/network-keys.js';
import { FEATURES } from '../../src/features/registry.js';
import { BIN, ROOT, vmrouter } from '../lib/vmrouter.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const CASES = join(ROOT, 'test', 'golden', 'cases');

/** The VM NIC every case with a VM-hosting network binds (flags trimmed to the families of the case). */
const TAP = { network: 'public', tap: 'tap1', mac: '52:54:00:12:34:56', ips: ['192.0.2.11', '192.0.2.21'], ip6s: ['2001:db8::11'] };
/** Dual-stack cases whose TAP gets no --ip6: its IPv6 address is the EUI-64 one of --mac. */
const EUI64_CASES = new Set(['vmc-dual']);
/** Output exactly as printed (execa would strip the final newline), from the project root, exit code checked here. */
const RAW = { cwd: ROOT, ok: false, stripFinalNewline: false } as const;

/** Sections of a case's vmrouter.conf: network name → key → value (enough INI to pick the commands). */
function readSections(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s[;#].*$/, '').trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const section = /^\[\s*network\s+([^\]\s]+)\s*\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const kv = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (kv && current) current.set(kv[1]!, kv[2]!);
  }
  return sections;
}

interface Golden {
  /** file name under expected/ */
  file: string;
  /** what produces it: vmrouter's standard output, or a file it writes (--rt-tables) */
  produce: () => Promise<string>;
}

function goldensFor(name: string, sections: Map<string, Map<string, string>>, scratch: string): Golden[] {
  const config = relative(ROOT, join(CASES, name, 'vmrouter.conf'));
  // each plan gets its own empty state directory: nothing vmrouter recorded may leak into the output
  let dirs = 0;
  const stateDir = () => {
    const d = join(scratch, `state-${++dirs}`);
    mkdirSync(d);
    return d;
  };
  const stdout = (args: string[], globals: string[] = []) => async () => {
    const r = await vmrouter(['--config', config, ...globals, ...args], RAW);
    if (r.code !== 0) throw new Error(`vmrouter ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const goldens: Golden[] = [
    // as on a node, where the hooks read /etc/vmrouter/vmrouter.conf (no vmrouter-config)
    { file: 'compact.interfaces', produce: stdout(['generate', '--style', 'compact', '--hook-config', '/etc/vmrouter/vmrouter.conf']) },
    { file: 'expanded.interfaces', produce: stdout(['generate', '--style', 'expanded']) },
    { file: 'plan-up.txt', produce: async () => stdout(['plan', 'up', '--from-scratch'], ['--state-dir', stateDir()])() },
    { file: 'plan-down.txt', produce: async () => stdout(['plan', 'down', '--from-scratch'], ['--state-dir', stateDir()])() },
  ];

  const tapNet = sections.get(TAP.network);
  const role = tapNet?.get('role');
  if (tapNet && (role === 'vmc' || role === 'vmc+router')) {
    const args = ['plan', 'tap', 'up', '--network', TAP.network, '--tap', TAP.tap, '--mac', TAP.mac];
    if (tapNet.has('subnet')) for (const ip of TAP.ips) args.push('--ip', ip);
    if (tapNet.has('subnet6') && !EUI64_CASES.has(name)) for (const ip6 of TAP.ip6s) args.push('--ip6', ip6);
    args.push('--from-scratch');
    goldens.push({ file: 'plan-tap-up.txt', produce: async () => stdout(args, ['--state-dir', stateDir()])() });
  }

  // every interface a feature section attaches to: what the hook of its ifup/ifdown would run
  const compact = execFileSync(BIN, ['--config', config, 'generate'], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  const featureIfaces = new Set<string>();
  let iface: string | null = null;
  for (const line of compact.split('\n')) {
    const stanza = /^iface (\S+) /.exec(line);
    if (stanza) iface = stanza[1]!;
    else if (iface && FEATURES.some((f) => line.trim().startsWith(`vmrouter-${f.kind} `))) featureIfaces.add(iface);
  }
  for (const dev of [...featureIfaces].sort()) {
    goldens.push({ file: `plan-ifup-${dev}.txt`, produce: async () => stdout(['plan', 'ifup', dev, '--from-scratch'], ['--state-dir', stateDir()])() });
    goldens.push({ file: `plan-ifdown-${dev}.txt`, produce: async () => stdout(['plan', 'ifdown', dev, '--from-scratch'], ['--state-dir', stateDir()])() });
  }

  // routing = bgp: the FRR configuration `vmrouter frr` writes
  if ([...sections.values()].some((s) => s.get('routing') === 'bgp')) goldens.push({ file: 'frr.conf', produce: stdout(['frr']) });

  if ([...sections.values()].some((s) => s.has('table_name'))) {
    goldens.push({
      file: 'rt_tables',
      produce: async () => {
        const out = join(scratch, 'rt_tables');
        rmSync(out, { force: true });
        await stdout(['generate', '--rt-tables', out])();
        return readFileSync(out, 'utf8');
      },
    });
  }
  return goldens;
}

const caseNames = readdirSync(CASES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

t.ok(caseNames.length > 0, `case directories under ${relative(ROOT, CASES)}`);
if (UPDATE) t.comment(`UPDATE_GOLDEN=1: writing the expected files of ${caseNames.length} cases instead of comparing`);

const scratchRoot = mkdtempSync(join(tmpdir(), 'vmrouter-golden-'));
t.teardown(() => rmSync(scratchRoot, { recursive: true, force: true }));

for (const name of caseNames) {
  t.test(name, async (t: Test) => {
    const dir = join(CASES, name);
    const expectedDir = join(dir, 'expected');
    const confPath = join(dir, 'vmrouter.conf');
    if (!existsSync(confPath)) {
      t.fail(`${name}/vmrouter.conf is missing`);
      return;
    }
    const sections = readSections(readFileSync(confPath, 'utf8'));
    const scratch = mkdtempSync(join(scratchRoot, `${name}-`));
    const goldens = goldensFor(name, sections, scratch);

    await t.test('vmrouter check', async (t) => {
      const r = await vmrouter(['--config', relative(ROOT, confPath), 'check'], RAW);
      t.equal(r.code, 0, `${name}: vmrouter check exits 0 (stderr: ${r.stderr.trim() || 'empty'})`);
      // one line; for VRF/twin sections also what the running kernel offers, and warnings only about
      // that (the cases pin `variant`, so their output does not depend on the kernel)
      t.match(r.stdout, /^[^\n]+\n(kernel [^\n]+; twin variant auto = (vrf|policy)\n)?(warning: [^\n]*this kernel[^\n]*\n)*$/, `${name}: vmrouter check prints one line (and the kernel's facts), no other warning`);
      t.match(r.stdout, /^\S+: OK[:,]/, `${name}: vmrouter check says OK`);
      t.equal(Number(/[:;] (\d+) networks? \(/.exec(r.stdout)?.[1] ?? 0), sections.size, `${name}: vmrouter check counts the ${sections.size} network(s) of the file`);
    });

    if (UPDATE) mkdirSync(expectedDir, { recursive: true });
    for (const g of goldens) {
      const label = `${name}/expected/${g.file}`;
      const actual = await g.produce();
      const file = join(expectedDir, g.file);
      if (UPDATE) {
        writeFileSync(file, actual);
        t.comment(`wrote ${label}`);
        continue;
      }
      if (!existsSync(file)) {
        t.fail(`${label} is missing (generate it with UPDATE_GOLDEN=1 and review it)`);
        continue;
      }
      t.equal(actual, readFileSync(file, 'utf8'), `${label} matches the output byte for byte`);
    }

    // a stale expected file (say a tap plan left from when the case was a vmc) would go unchecked
    const wanted = new Set(goldens.map((g) => g.file));
    const present = existsSync(expectedDir) ? readdirSync(expectedDir) : [];
    const stale = present.filter((f) => !wanted.has(f));
    if (UPDATE) for (const f of stale) t.comment(`${name}/expected/${f} is not produced by any command of this case; delete it`);
    t.same(stale, [], `${name}/expected holds only files this case produces`);
  });
}

t.test('every configuration key of the schema appears in at least one case', async (t) => {
  const used = new Set<string>();
  for (const name of caseNames) {
    const conf = join(CASES, name, 'vmrouter.conf');
    if (!existsSync(conf)) continue;
    for (const keys of readSections(readFileSync(conf, 'utf8')).values()) for (const k of keys.keys()) used.add(k);
  }
  const missing = NETWORK_KEYS.map((k) => k.key).filter((k) => !used.has(k));
  t.same(missing, [], 'keys no golden case sets');
});
