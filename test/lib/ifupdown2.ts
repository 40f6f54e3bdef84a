/**
 * The real ifupdown2 (Debian's package) inside a test namespace, without installing it: the package
 * Conflicts with ifupdown, which the other tests run. The .deb is fetched with `apt-get download`
 * and unpacked into CACHE once; it is plain Python 3 (Depends: python3, iproute2, nothing else).
 *
 * What the installed package would read from the host is the namespace's instead:
 * - /etc/network (interfaces, if-*.d hooks, ifupdown2/ifupdown2.conf and addons.conf): `ip netns
 *   exec` bind-mounts /etc/netns/NS/network over it, the layout netns.ts installHooks makes;
 * - /run/network (its lock and run files; absent on this host and global to every namespace, so
 *   parallel runs would refuse with "Another instance of this program is already running") and
 *   state_dir: a per-namespace directory under /tmp/vmrouter-test-ifstate/NS, which Lab.cleanup
 *   already removes. The two /run/network paths are Python constants, so a small launcher sets
 *   them before ifupdown2's own main() runs; no file of the package is changed.
 * Nothing else is written outside the namespace's directories (the mount namespace `ip netns exec`
 * creates ends with the process).
 *
 * Mind that ifupdown2 runs if-up.d with PHASE=up and if-down.d with PHASE=down (ifupdown: post-up,
 * pre-down), and reads if-post-up.d and if-pre-down.d too (docs/hypervisors.md). scripts/setup.sh
 * fetches the package into the same cache, so the tests need no network.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Options } from 'execa';
import { inNs, run, type RunResult } from './run.js';

export const CACHE = process.env.VMROUTER_TEST_IFUPDOWN2_CACHE ?? '/var/cache/vmrouter-test-ifupdown2';
/** the unpacked package; .unpacked holds its version */
export const ROOTFS = join(CACHE, 'root');
const PKG = join(ROOTFS, 'usr/share/ifupdown2');
const LAUNCHER = join(CACHE, 'launch.py');
/** not `python3` from PATH: the package's #!/usr/bin/env python3 means Debian's interpreter on a node */
const PYTHON = '/usr/bin/python3';

// argv: PKG RUNDIR VERB ARGS... — our arguments, not environment variables, because ifupdown2
// passes its whole environment on to the hook scripts.
const LAUNCH_PY = `import importlib.util, os, sys
pkg, rundir, verb = sys.argv[1:4]
sys.path.insert(0, pkg)  # as for /usr/share/ifupdown2/__main__.py: the un-prefixed imports
import ifupdown.main, ifupdown.statemanager
ifupdown.main.lockfile = os.path.join(rundir, '.lock')
ifupdown.statemanager.stateManager.state_rundir = rundir + '/'
# ifupdown2 picks the operation from argv[0]; runpy would overwrite it, so load __main__.py by hand
sys.argv = ['/sbin/' + verb] + sys.argv[4:]
spec = importlib.util.spec_from_file_location('ifupdown2_main', os.path.join(pkg, '__main__.py'))
main = importlib.util.module_from_spec(spec)
spec.loader.exec_module(main)
sys.exit(main.main())
`;

const sh = (file: string, args: string[]) => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Why ifupdown2 cannot run here, or null: the tests skip with this reason rather than pass. */
export function ifupdown2Unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (scripts/setup.sh installs python3)`;
  for (const tool of ['ip', 'dpkg-deb', 'apt-get']) {
    try {
      sh('sh', ['-c', 'command -v "$0"', tool]);
    } catch {
      return `${tool} is not installed`;
    }
  }
  if (existsSync(join(ROOTFS, '.unpacked'))) return null;
  try {
    if (!/^Version:/m.test(sh('apt-cache', ['show', '--no-all-versions', 'ifupdown2']))) throw new Error();
  } catch {
    return 'apt knows no ifupdown2 package (apt-get update?)';
  }
  return null;
}

/** Downloads and unpacks the package once; later calls only refresh the launcher. */
export async function prepareIfupdown2(): Promise<string> {
  mkdirSync(CACHE, { recursive: true });
  const ready = join(ROOTFS, '.unpacked');
  if (!existsSync(ready)) {
    // unpack beside and rename, so that an interrupted run never leaves a half tree that looks ready
    const tmp = mkdtempSync(join(CACHE, 'download-'));
    try {
      // apt's sandbox user cannot write here; the warning about it is harmless
      await run(['apt-get', '-q', '-o', 'DPkg::Lock::Timeout=600', 'download', 'ifupdown2'], { cwd: tmp });
      const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error('apt-get download ifupdown2 produced no .deb');
      const version = (await run(['dpkg-deb', '-f', join(tmp, deb), 'Version'])).stdout.trim();
      await run(['dpkg-deb', '-x', join(tmp, deb), join(tmp, 'root')]);
      // byte-compile now rather than from inside many namespaces at once
      await run([PYTHON, '-m', 'compileall', '-q', join(tmp, 'root/usr/share/ifupdown2')], { ok: false });
      writeFileSync(join(tmp, 'root', '.unpacked'), `ifupdown2 ${version}\n`);
      if (!existsSync(ready)) {
        rmSync(ROOTFS, { recursive: true, force: true });
        renameSync(join(tmp, 'root'), ROOTFS);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  if (!existsSync(LAUNCHER) || readFileSync(LAUNCHER, 'utf8') !== LAUNCH_PY) writeFileSync(LAUNCHER, LAUNCH_PY);
  return readFileSync(ready, 'utf8').trim();
}

/** ifupdown2's lock, run files and saved state (what `ifdown` and `ifreload` compare against). */
export const ifupdown2StateDir = (ns: string) => join('/tmp/vmrouter-test-ifstate', ns, 'ifupdown2');

/**
 * Writes the namespace's /etc/network/ifupdown2: the package's two files, with state_dir pointed
 * at ifupdown2StateDir and `settings` (ifupdown2.conf keys, e.g. { addon_scripts_support: '0' })
 * applied. addons.conf loses the bond addon: its constructor runs `modprobe bonding`, which on a
 * kernel with modules loads it for the whole host and creates bond0 there.
 */
export function ifupdown2Setup(ns: string, settings: Record<string, string> = {}): void {
  const dir = join('/etc/netns', ns, 'network', 'ifupdown2');
  mkdirSync(dir, { recursive: true });
  mkdirSync(ifupdown2StateDir(ns), { recursive: true });
  let conf = readFileSync(join(ROOTFS, 'etc/network/ifupdown2/ifupdown2.conf'), 'utf8');
  for (const [key, value] of Object.entries({ state_dir: ifupdown2StateDir(ns), ...settings })) {
    const line = new RegExp(`^${key}=.*$`, 'm');
    conf = line.test(conf) ? conf.replace(line, `${key}=${value}`) : `${conf}${key}=${value}\n`;
  }
  writeFileSync(join(dir, 'ifupdown2.conf'), conf);
  const addons = readFileSync(join(ROOTFS, 'etc/network/ifupdown2/addons.conf'), 'utf8');
  writeFileSync(join(dir, 'addons.conf'), addons.split('\n').filter((l) => !/,bond$/.test(l)).join('\n'));
}

/** Forgets what ifupdown2 saved for the namespace (as after a reboot: /run is gone). */
export function ifupdown2ResetState(ns: string): void {
  rmSync(ifupdown2StateDir(ns), { recursive: true, force: true });
  mkdirSync(ifupdown2StateDir(ns), { recursive: true });
}

/**
 * Real ifupdown2 `ifup`/`ifdown`/`ifreload`/`ifquery` inside the namespace, on its
 * /etc/network/interfaces (ifupdown2's default; `-i` works too). Call prepareIfupdown2 first;
 * the namespace gets the default ifupdown2Setup on first use. With `ok` (the default) an
 * `error:` line fails the call too: ifupdown2 exits 0 when a hook script fails.
 */
export async function ifupdown2(ns: string, verb: 'ifup' | 'ifdown' | 'ifreload' | 'ifquery', args: string[], opts: Options & { ok?: boolean } = {}): Promise<RunResult> {
  if (!existsSync(LAUNCHER)) throw new Error('call prepareIfupdown2() first');
  if (!existsSync(join('/etc/netns', ns, 'network', 'ifupdown2', 'ifupdown2.conf'))) ifupdown2Setup(ns);
  const { ok = true, ...rest } = opts;
  const r = await inNs(ns, [PYTHON, LAUNCHER, PKG, ifupdown2StateDir(ns), verb, ...args], { ...rest, ok });
  if (ok && /^error: /m.test(r.stderr)) throw new Error(`ifupdown2 ${verb} ${args.join(' ')} in ${ns} exited 0 but reported:\n${r.stderr}`);
  return r;
}
