/**
 * A private libvirtd (Debian 12: libvirt 9.0, the monolithic daemon; there is no virtqemud) inside
 * a test network namespace, so the TAPs it creates for `<interface type='ethernet'>` appear where
 * vmrouter runs, and nothing of it is left on the host afterwards. The captures it made are in
 * ../fixtures/libvirt (capture.ts there).
 *
 * Why each piece is the way it is:
 * - libvirt's paths are compiled in (/etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt,
 *   /var/log/libvirt; the hooks dir is always /etc/libvirt/hooks). `ip netns exec NS` bind-mounts
 *   /etc/netns/NS/* over /etc/* in a private (slave) mount namespace, which gives the daemon its own
 *   /etc/libvirt, and there we bind the state dirs to DIR before exec'ing libvirtd. The host's
 *   mount table never changes; only empty mount points are created when missing, and removed again.
 * - The QEMU driver of a privileged daemon refuses to start when the user `libvirt-qemu` does not
 *   exist ("Failed to parse user 'libvirt-qemu'"), and it checks before reading qemu.conf, so
 *   `user = "root"` is not enough. libvirt-daemon-system would add the user, but it pulls in systemd,
 *   polkit and firewalld; an /etc/netns/NS/passwd with the user added is seen by the daemon only.
 * - qemu.conf turns off what needs services this machine lacks: virtlogd (stdio_handler = "file"),
 *   cgroups (there is no systemd), and the security drivers. Domains must be `type='qemu'` (TCG).
 * - The daemon listens on DIR/sock, which is outside the mount namespace, so virsh runs from the
 *   test process as it is, with `uri`.
 * - A hook present when the daemon starts is cached: a new or removed /etc/libvirt/hooks/qemu is
 *   only noticed on SIGHUP or restart, hence setHook(). Editing an existing hook needs neither.
 * - The embedded driver (qemu:///embed?root=DIR) needs no daemon, but it never calls hooks and its
 *   domains do not outlive the process that started them, so it is not used here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from './run.js';

/** all instances live below this; one directory per namespace */
const BASE = '/tmp/vmrouter-test-libvirt';
/** the mount points the daemon's private state dirs are bound to, and what each becomes in DIR */
const STATE_DIRS: [string, string][] = [
  ['/run/libvirt', 'run'],
  ['/var/lib/libvirt', 'lib'],
  ['/var/cache/libvirt', 'cache'],
  ['/var/log/libvirt', 'log'],
];
/** Debian's QEMU_USER and QEMU_GROUP, both `libvirt-qemu` (libvirt-daemon-system creates them) */
const QEMU_USER = 'libvirt-qemu';
const PACKAGES = 'libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients';

export interface Libvirt {
  /** `virsh -c` this, from the test process */
  uri: string;
  /** the network namespace the daemon, its qemus and the TAPs are in */
  netns: string;
  /** the daemon's private state (run/, lib/, cache/, log/, sock/, libvirtd.log) */
  dir: string;
  /** host path of what the daemon sees as /etc/libvirt/hooks */
  hooksDir: string;
  /** the daemon's log; util.hook and the QEMU process code at debug level, for failures */
  log: string;
  virsh(args: string[], opts?: { ok?: boolean }): Promise<RunResult>;
  /** Installs (or with null removes) /etc/libvirt/hooks/qemu and makes the daemon notice it. */
  setHook(script: string | null): Promise<void>;
  /**
   * Stops and starts the daemon; running domains survive it and get the `reconnect` hook (in a
   * daemon thread, after restart() returns). `meanwhile` runs while no daemon is up.
   */
  restart(meanwhile?: () => Promise<void>): Promise<void>;
  /** Destroys and undefines every domain, stops the daemon and removes everything it made. */
  stop(): Promise<void>;
}

/** null when this machine can run startLibvirt, else why not. */
export function libvirtUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'libvirt tests need root';
  for (const bin of ['/usr/sbin/libvirtd', '/usr/bin/virsh', '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so']) {
    if (!existsSync(bin)) return `${bin} is missing: apt-get install --no-install-recommends ${PACKAGES}`;
  }
  if (!existsSync('/usr/bin/qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (qemu-system-x86)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing: libvirt cannot create TAPs';
  return null;
}

/**
 * Starts a private libvirtd in `netns` (made, and deleted by stop(), when not given; names are
 * `lv-…`). `hook` becomes /etc/libvirt/hooks/qemu before the daemon starts.
 */
export async function startLibvirt(opts: { netns?: string; hook?: string } = {}): Promise<Libvirt> {
  const ownNs = opts.netns === undefined;
  const netns = opts.netns ?? `lv-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  if (ownNs) {
    await run(['ip', 'netns', 'add', netns]);
    await run(['ip', '-n', netns, 'link', 'set', 'dev', 'lo', 'up']);
  }
  const dir = join(BASE, netns);
  rmSync(dir, { recursive: true, force: true });
  for (const [, sub] of STATE_DIRS) mkdirSync(join(dir, sub), { recursive: true });
  // auth is off (no polkit here): only root may reach the socket
  mkdirSync(join(dir, 'sock'), { mode: 0o700 });
  const etc = join('/etc/netns', netns);
  const hooksDir = join(etc, 'libvirt', 'hooks');
  mkdirSync(hooksDir, { recursive: true });
  writeFileSync(join(etc, 'passwd'), withEntry('/etc/passwd', QEMU_USER, `${QEMU_USER}:x:64055:64055:vmrouter test:/nonexistent:/usr/sbin/nologin`));
  writeFileSync(join(etc, 'group'), withEntry('/etc/group', QEMU_USER, `${QEMU_USER}:x:64055:`));
  const log = join(dir, 'libvirtd.log');
  writeFileSync(
    join(etc, 'libvirt', 'libvirtd.conf'),
    [
      `unix_sock_dir = "${join(dir, 'sock')}"`,
      'unix_sock_rw_perms = "0700"',
      'auth_unix_rw = "none"',
      'auth_unix_ro = "none"',
      `log_outputs = "1:file:${log}"`,
      'log_filters = "1:util.hook 1:qemu.qemu_process 1:util.netdevtap 3:*"',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(etc, 'libvirt', 'qemu.conf'),
    ['user = "root"', 'group = "root"', 'dynamic_ownership = 0', 'security_driver = "none"', 'cgroup_controllers = [ ]', 'stdio_handler = "file"', ''].join('\n'),
  );
  if (opts.hook !== undefined) writeHook(hooksDir, opts.hook);
  register(netns, ownNs);

  const lv: Libvirt & { daemon: ChildProcess | null } = {
    uri: `qemu+unix:///system?socket=${join(dir, 'sock', 'libvirt-sock')}`,
    netns,
    dir,
    hooksDir,
    log,
    daemon: null,
    virsh: (args, o = {}) => run(['virsh', '-q', '-c', lv.uri, ...args], { ok: o.ok ?? true }),
    async setHook(script) {
      const before = hookScans(log);
      if (script === null) rmSync(join(hooksDir, 'qemu'), { force: true });
      else writeHook(hooksDir, script);
      if (!lv.daemon?.pid) return;
      process.kill(lv.daemon.pid, 'SIGHUP');
      // the reload thread rescans the hooks dir and logs each script it checks
      await until(() => hookScans(log) > before, 10_000, 'libvirtd did not rescan its hooks after SIGHUP');
    },
    async restart(meanwhile) {
      await stopDaemon(lv.daemon);
      if (meanwhile) await meanwhile();
      lv.daemon = await spawnDaemon(netns, dir, log);
    },
    async stop() {
      if (lv.daemon && lv.daemon.exitCode === null) {
        const { stdout } = await lv.virsh(['list', '--all', '--name'], { ok: false });
        for (const name of stdout.split('\n').filter(Boolean)) {
          await lv.virsh(['destroy', name], { ok: false });
          await lv.virsh(['undefine', name, '--managed-save'], { ok: false });
        }
      }
      await stopDaemon(lv.daemon);
      lv.daemon = null;
      await cleanup(netns);
    },
  };
  try {
    lv.daemon = await spawnDaemon(netns, dir, log);
  } catch (e) {
    await cleanup(netns);
    throw e;
  }
  return lv;
}

/** `virsh define` then `virsh dumpxml`: the XML as libvirt keeps it (defaults, addresses, uuid). */
export async function defineAndDump(uri: string, xml: string, flags: string[] = []): Promise<string> {
  // virsh cannot open /dev/stdin when it is a socket (execa's input): a file
  const tmp = mkdtempSync(join(tmpdir(), 'vmrouter-define-'));
  writeFileSync(join(tmp, 'domain.xml'), xml);
  const { stdout } = await run(['virsh', '-q', '-c', uri, 'define', join(tmp, 'domain.xml')]).finally(() => rmSync(tmp, { recursive: true, force: true }));
  const name = /Domain '([^']+)' defined/.exec(stdout)?.[1] ?? /<name>([^<]+)<\/name>/.exec(xml)?.[1];
  if (!name) throw new Error(`virsh define said ${JSON.stringify(stdout)} and the XML has no <name>`);
  return (await run(['virsh', '-c', uri, 'dumpxml', ...flags, name])).stdout;
}

/** Starts a defined domain and returns its live XML (TAP names filled in, as the hooks see them). */
export async function startDomain(uri: string, name: string): Promise<string> {
  await run(['virsh', '-q', '-c', uri, 'start', name]);
  return (await run(['virsh', '-c', uri, 'dumpxml', name])).stdout;
}

/** Pulls the plug (stopped and release hooks run before this returns); `ok: false` when it may not run. */
export async function destroyDomain(uri: string, name: string, opts: { ok?: boolean } = {}): Promise<void> {
  await run(['virsh', '-q', '-c', uri, 'destroy', name], { ok: opts.ok ?? true });
}

export interface DomainNic {
  mac: string;
  /** `<target dev>`; without it libvirt names the TAP vnetN, a different N at every start */
  tap?: string;
  /** managed='no': libvirt neither creates nor sets up the TAP, it must exist (persistent) before start */
  unmanaged?: boolean;
  /** vmrouter's metadata for the NIC; without it the NIC is not routed */
  network?: string;
  ips?: string[];
}

/** vmrouter's namespace for its `<metadata>` element (see REPORT.md: libvirt keeps one element per namespace) */
export const VMROUTER_XMLNS = 'https://vmrouter.example/xmlns/1';

/**
 * A minimal TCG domain with routed ethernet NICs. No disk and no kernel: SeaBIOS finds nothing to
 * boot and idles, which is all the hooks need (a guest that must send packets is guest.ts's job).
 * The addresses go to vmrouter's metadata because libvirt's QEMU driver rejects `<ip>` on any
 * interface but type='user'.
 */
export function domainXml(name: string, nics: DomainNic[], uuid?: string): string {
  const routed = nics.filter((n) => n.network !== undefined);
  const metadata = routed.length
    ? [
        '  <metadata>',
        `    <vmrouter:nics xmlns:vmrouter="${VMROUTER_XMLNS}">`,
        ...routed.flatMap((n) => [
          `      <vmrouter:nic mac="${n.mac}" network="${n.network}">`,
          ...(n.ips ?? []).map((a) => `        <vmrouter:ip address="${a}"/>`),
          '      </vmrouter:nic>',
        ]),
        '    </vmrouter:nics>',
        '  </metadata>',
      ]
    : [];
  const interfaces = nics.flatMap((n) => [
    "    <interface type='ethernet'>",
    `      <mac address='${n.mac}'/>`,
    ...(n.tap ? [`      <target dev='${n.tap}'${n.unmanaged ? " managed='no'" : ''}/>`] : []),
    "      <model type='virtio'/>",
    '    </interface>',
  ]);
  return [
    "<domain type='qemu'>",
    `  <name>${name}</name>`,
    ...(uuid ? [`  <uuid>${uuid}</uuid>`] : []),
    ...metadata,
    "  <memory unit='MiB'>64</memory>",
    '  <vcpu>1</vcpu>',
    "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n  </os>",
    // ACPI, or the i440fx root bus refuses NIC hotplug ("Bus 'pci.0' does not support hotplugging")
    '  <features>\n    <acpi/>\n  </features>',
    '  <devices>',
    '    <emulator>/usr/bin/qemu-system-x86_64</emulator>',
    ...interfaces,
    "    <serial type='pty'/>",
    "    <memballoon model='none'/>",
    '  </devices>',
    '</domain>',
    '',
  ].join('\n');
}

/**
 * A qemu hook that records each call in `out` (on the host: the daemon shares /tmp) as
 * NNN-OP-SUBOP.argv (its argv), .xml (its stdin) and .links (the namespace's links at that moment),
 * and exits `exitCodes["OP SUBOP"]` (0 when absent). It prints nothing: on `migrate` and `restore`
 * libvirt parses the hook's stdout as the new domain XML.
 */
export function recorderHook(out: string, exitCodes: Record<string, number> = {}): string {
  const cases = Object.entries(exitCodes)
    .map(([op, code]) => `\t'${op}') echo "recorder hook: exit ${code} at $2 $3" >&2; exit ${code} ;;`)
    .join('\n');
  return `#!/bin/sh
out='${out}'
mkdir -p "$out"
n=$(ls "$out" | grep -c '[.]argv$')
base=$(printf '%s/%03d-%s-%s' "$out" "$n" "$2" "$3")
printf '%s\\n' "$0 $*" >"$base.argv"
cat >"$base.xml"
ip -o link show | grep -v link/loopback | sed 's/^[0-9]*: //; s/ state .*//' >"$base.links"
case "$2 $3" in
${cases}
esac
exit 0
`;
}

/** Reads what recorderHook wrote, in call order. */
export function recordedCalls(out: string): { argv: string[]; xml: string; links: string[] }[] {
  if (!existsSync(out)) return [];
  return readdirSync(out)
    .filter((f) => f.endsWith('.argv'))
    .sort()
    .map((f) => {
      const base = join(out, f.slice(0, -'.argv'.length));
      return {
        argv: readFileSync(`${base}.argv`, 'utf8').trim().split(' '),
        xml: readFileSync(`${base}.xml`, 'utf8'),
        links: readFileSync(`${base}.links`, 'utf8').split('\n').filter(Boolean).map((l) => l.split(':')[0]!.split('@')[0]!),
      };
    });
}

/** Removes what an interrupted run left: daemons, their qemus, namespaces made here, state dirs. */
export async function sweepLibvirt(): Promise<void> {
  if (!existsSync(BASE)) return;
  for (const netns of readdirSync(BASE)) {
    if (netns === 'instances') continue;
    const dir = join(BASE, netns);
    for (const pidFile of [join(dir, 'libvirtd.pid'), ...pidFiles(join(dir, 'run', 'qemu'))]) killPidFile(pidFile);
    await cleanup(netns);
  }
}

/** The file with `line` added unless it already has an entry called `name` (a host with libvirt-daemon-system has). */
function withEntry(file: string, name: string, line: string): string {
  const text = readFileSync(file, 'utf8').trimEnd();
  return text.split('\n').some((l) => l.startsWith(`${name}:`)) ? `${text}\n` : `${text}\n${line}\n`;
}

function writeHook(hooksDir: string, script: string): void {
  writeFileSync(join(hooksDir, 'qemu'), script);
  chmodSync(join(hooksDir, 'qemu'), 0o755);
}

async function spawnDaemon(netns: string, dir: string, log: string): Promise<ChildProcess> {
  const binds = STATE_DIRS.map(([target, sub]) => `mount --bind ${join(dir, sub)} ${target}`).join(' && ');
  const sock = join(dir, 'sock', 'libvirt-sock');
  rmSync(sock, { force: true });
  // foreground, so it is our child and pdeathsig ends it with the test process; domains it started
  // outlive it either way (sweepLibvirt finds them by their pid files)
  const child = spawn('ip', ['netns', 'exec', netns, 'sh', '-c', `${binds} && exec setpriv --pdeathsig KILL /usr/sbin/libvirtd --pid-file ${join(dir, 'libvirtd.pid')}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await until(() => existsSync(sock) || child.exitCode !== null, 15_000, 'libvirtd did not create its socket');
  if (child.exitCode !== null) throw new Error(`libvirtd exited ${child.exitCode}: ${stderr}\n${tail(log)}`);
  // the socket appears before the drivers are initialised; a connection waits for them
  await run(['virsh', '-q', '-c', `qemu+unix:///system?socket=${sock}`, 'list', '--all']);
  return child;
}

async function stopDaemon(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await gone;
  clearTimeout(timer);
}

/** The mount points: created if missing, removed by the last instance (the host has none of them without libvirt-daemon-system). */
function register(netns: string, ownNs: boolean): void {
  const instances = join(BASE, 'instances');
  mkdirSync(instances, { recursive: true });
  const created = STATE_DIRS.map(([t]) => t).filter((t) => !existsSync(t));
  for (const t of created) mkdirSync(t, { recursive: true });
  const prior = readdirSync(instances).flatMap((f) => (JSON.parse(readFileSync(join(instances, f), 'utf8')) as { created: string[] }).created);
  writeFileSync(join(instances, netns), JSON.stringify({ ownNs, created: [...new Set([...created, ...prior])] }));
}

async function cleanup(netns: string): Promise<void> {
  const file = join(BASE, 'instances', netns);
  const me = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { ownNs: boolean; created: string[] }) : { ownNs: false, created: [] };
  rmSync(file, { force: true });
  if (me.ownNs) await run(['ip', 'netns', 'del', netns], { ok: false });
  rmSync(join('/etc/netns', netns, 'libvirt'), { recursive: true, force: true });
  rmSync(join('/etc/netns', netns, 'passwd'), { force: true });
  rmSync(join('/etc/netns', netns, 'group'), { force: true });
  if (me.ownNs) rmSync(join('/etc/netns', netns), { recursive: true, force: true });
  else if (existsSync(join('/etc/netns', netns)) && readdirSync(join('/etc/netns', netns)).length === 0) rmdirSync(join('/etc/netns', netns));
  rmSync(join(BASE, netns), { recursive: true, force: true });
  const others = existsSync(join(BASE, 'instances')) ? readdirSync(join(BASE, 'instances')) : [];
  if (others.length > 0) {
    // a later instance inherits the list of mount points to remove
    return;
  }
  // rmdir of a mount point that another namespace still uses would detach it there: only the last one out
  for (const t of me.created) {
    try {
      rmdirSync(t);
    } catch {
      // not empty: something else (a real libvirt) uses it now
    }
  }
  rmSync(BASE, { recursive: true, force: true });
}

function hookScans(log: string): number {
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('virHookCheck') && l.includes('/etc/libvirt/hooks/qemu')).length : 0;
}

function pidFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.pid') && f !== 'driver.pid').map((f) => join(dir, f)) : [];
}

function killPidFile(file: string): void {
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function tail(file: string, lines = 20): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(what);
    await new Promise((r) => setTimeout(r, 50));
  }
}
