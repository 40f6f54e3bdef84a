// Shared helpers of the benchmarks: namespaces, argv-only command runs, timing. Run as root.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(ROOT, 'dist', 'vmrouter');
// NODE_EXTRA_CA_CERTS adds ~45 ms to every node start on these machines (docs/design.md)
export const ENV = { ...process.env };
delete ENV.NODE_EXTRA_CA_CERTS;

export function sh(argv, { input, ok = true, env = ENV } = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { input, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (ok && r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

export const inNs = (ns, argv, opts) => sh(['ip', 'netns', 'exec', ns, ...argv], opts);

/**
 * The command line of a benchmark that needs root (it creates network namespaces): exits with a
 * hint when not root; `opt('name', fallback)` is the value after `--name`, `flag('name')` whether it is given.
 */
export function benchOptions(script) {
  if (process.getuid() !== 0) {
    console.error(`${script}: run as root (it creates network namespaces): sudo node ${script}`);
    process.exit(1);
  }
  const args = process.argv.slice(2);
  return {
    opt: (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback),
    flag: (name) => args.includes(`--${name}`),
  };
}

export function freshNs(name) {
  sh(['ip', 'netns', 'del', name], { ok: false });
  sh(['rm', '-rf', `/run/vmrouter/netns/${name}`, `/etc/netns/${name}`]);
  sh(['ip', 'netns', 'add', name]);
  inNs(name, ['ip', 'link', 'set', 'lo', 'up']);
  return name;
}

export function dropNs(name) {
  sh(['ip', 'netns', 'del', name], { ok: false });
  sh(['rm', '-rf', `/run/vmrouter/netns/${name}`, `/etc/netns/${name}`]);
}

/** wall time of fn() in ms */
export function time(fn) {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
}

export function writeConf(path, text) {
  writeFileSync(path, text);
  return path;
}

/** One VMC node network: TAP addresses 10.40.x.y, IPv6 2001:db8:40::N. */
export const NODE_CONF = `
[network bench]
role = vmc
uplink = up0
table = 400
subnet = 10.40.0.0/16
gateway = 10.40.0.1
arp_ip = 10.40.255.254
subnet6 = 2001:db8:40::/64
gateway6 = 2001:db8:40::1
`;
export const ip4 = (i) => `10.40.${(i + 2) >> 8}.${(i + 2) & 255}`;
export const ip6 = (i) => `2001:db8:40::${(i + 2).toString(16)}`;

/** Creates `count` real TAP devices (as a hypervisor would; one link per VM) with one ip -batch. */
export function makeTaps(ns, count, from = 0) {
  const lines = [];
  for (let i = from; i < from + count; i++) lines.push(`tuntap add dev tap${i} mode tap`, `link set dev tap${i} up`);
  sh(['ip', '-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });
}

export function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((v, c) => String(v).padEnd(widths[c])).join('  ')).join('\n');
}

/**
 * vmrouter keeps its ledger under /run, a tmpfs on Debian. On a machine where /run is a disk
 * directory (this sandbox: ext4, where one small file write + rename costs ~0.8 ms instead of
 * ~0.02 ms), the benchmarks would measure the disk, so they mount a tmpfs on /run/vmrouter for
 * their duration and say so.
 */
export function tmpfsRun() {
  const fs = sh(['stat', '-f', '-c', '%T', '/run']).stdout.trim();
  if (fs === 'tmpfs') return () => undefined;
  sh(['mkdir', '-p', '/run/vmrouter']);
  sh(['mount', '-t', 'tmpfs', '-o', 'size=256m,mode=0755', 'vmrouter-bench', '/run/vmrouter']);
  console.log(`note: /run is ${fs} here, not tmpfs as on Debian; a tmpfs is mounted on /run/vmrouter for this benchmark`);
  return () => sh(['umount', '/run/vmrouter']);
}
