/**
 * Simulated nodes: network namespaces joined by veth pairs, each with its own /etc/network (through
 * /etc/netns/NS, which `ip netns exec` bind-mounts over /etc) holding the vmrouter hooks, so real
 * ifup/ifdown run them.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inNs, run } from './run.js';
import { BIN, ROOT } from './vmrouter.js';

export class Lab {
  readonly namespaces: string[] = [];
  constructor(readonly prefix: string) {}

  /** Removes what an earlier, interrupted run with this prefix left. */
  static async sweep(prefix: string): Promise<void> {
    const { stdout } = await run(['ip', 'netns', 'list']);
    for (const line of stdout.split('\n')) {
      const name = line.split(' ')[0];
      if (name && name.startsWith(prefix)) await removeNs(name);
    }
  }

  async ns(short: string): Promise<string> {
    const name = `${this.prefix}${short}`;
    await removeNs(name);
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await inNs(name, ['ip', 'link', 'set', 'dev', 'lo', 'up']);
    // Fresh namespaces take their defaults from the kernel, not from the host's sysctl.d.
    return name;
  }

  /** veth pair between two namespaces (or inside one). */
  async link(a: string, aName: string, b: string, bName: string): Promise<void> {
    await run(['ip', '-n', a, 'link', 'add', 'dev', aName, 'type', 'veth', 'peer', 'name', bName, 'netns', b]);
  }

  async up(ns: string, dev: string): Promise<void> {
    await run(['ip', '-n', ns, 'link', 'set', 'dev', dev, 'up']);
  }

  async cleanup(): Promise<void> {
    for (const ns of this.namespaces.reverse()) await removeNs(ns);
  }
}

async function removeNs(name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name], { ok: false });
  rmSync(join('/etc/netns', name), { recursive: true, force: true });
  rmSync(join('/run/vmrouter/netns', name), { recursive: true, force: true });
  rmSync(join('/tmp/vmrouter-test-ifstate', name), { recursive: true, force: true });
}

/**
 * Gives a namespace its own /etc/network with the repository's hooks. The hooks exec
 * /usr/sbin/vmrouter; here that path is replaced by the freshly built binary (the installed-package
 * test uses installPackagedHooks instead).
 */
export function installHooks(ns: string, interfaces: string): void {
  const hook = readFileSync(join(ROOT, 'hooks', 'vmrouter'), 'utf8');
  if (!hook.includes('/usr/sbin/vmrouter')) throw new Error('hooks/vmrouter no longer execs /usr/sbin/vmrouter: update the test');
  networkDir(ns, interfaces, (_dir, dest) => writeFileSync(dest, hook.replaceAll('/usr/sbin/vmrouter', BIN)));
}

/** The same with the hooks the vmrouter package installed in /etc/network, byte for byte. */
export function installPackagedHooks(ns: string, interfaces: string): void {
  networkDir(ns, interfaces, (dir, dest) => copyFileSync(join('/etc/network', dir, 'vmrouter'), dest));
}

export const HOOK_DIRS = ['if-pre-up.d', 'if-up.d', 'if-post-up.d', 'if-pre-down.d', 'if-down.d', 'if-post-down.d'];

function networkDir(ns: string, interfaces: string, put: (dir: string, dest: string) => void): void {
  const etc = join('/etc/netns', ns, 'network');
  for (const dir of HOOK_DIRS) mkdirSync(join(etc, dir), { recursive: true });
  // as the package installs it: ifupdown reads four of these, ifupdown2 all six (hooks/vmrouter)
  for (const dir of HOOK_DIRS) {
    put(dir, join(etc, dir, 'vmrouter'));
    chmodSync(join(etc, dir, 'vmrouter'), 0o755);
  }
  writeFileSync(join(etc, 'interfaces'), interfaces);
  mkdirSync(join('/tmp/vmrouter-test-ifstate', ns), { recursive: true });
  if (existsSync('/etc/iproute2/rt_tables')) copyFileSync('/etc/iproute2/rt_tables', join('/tmp/vmrouter-test-ifstate', ns, 'rt_tables.orig'));
}

export function writeInterfaces(ns: string, interfaces: string): void {
  writeFileSync(join('/etc/netns', ns, 'network', 'interfaces'), interfaces);
}

/** Real ifupdown inside the namespace, with its own state directory. */
export function ifupdown(ns: string, verb: 'ifup' | 'ifdown', iface: string, extra: string[] = [], ok = true) {
  return inNs(ns, [verb, '-i', '/etc/network/interfaces', '--state-dir', join('/tmp/vmrouter-test-ifstate', ns), ...extra, iface], { ok });
}
