/**
 * Debian's real Ganeti network scripts inside a test namespace, unmodified and without installing
 * Ganeti (ganeti-3.0 pulls in lvm2, ssh servers, 100 MB of Haskell daemons...). `apt-get download`
 * fetches the `ganeti` and `ganeti-X.Y` packages once into CACHE, `dpkg-deb -x` unpacks them, and
 * the md5sums of the package are checked, so what runs is byte for byte what a node runs.
 *
 * What Debian 12 ships (ganeti 3.0.2-3; docs/hypervisors.md has what vmrouter does with it):
 * - /usr/lib/ganeti/kvm-ifup (package `ganeti`: a symlink, via /usr/lib/ganeti/default and the
 *   postinst's /etc/ganeti/lib, to /usr/lib/ganeti/3.0/usr/lib/ganeti/kvm-ifup in `ganeti-3.0`),
 *   a bash script that sources /usr/lib/ganeti/net-common. Ganeti runs it for every NIC it plugs
 *   (instance start, hot-add, and for routed NICs after an incoming migration), with the NIC in
 *   the environment (ganetiEnv).
 * - kvm-ifup `exec`s /etc/ganeti/kvm-vif-bridge, with no arguments, when that file is executable,
 *   and then does nothing of its own; otherwise it sets the NIC up itself (routed: `ip rule` per
 *   TAP, a host route in table LINK, proxy_arp/proxy_ndp on the TAP). There is no
 *   kvm-ifup-custom and no kvm-ifdown (those names come from the never-merged ifdown design); when
 *   a NIC goes away Ganeti runs nothing, the TAP just disappears with qemu (ganetiNicGone).
 *
 * How the unmodified scripts find their hard-coded paths: a private mount namespace (`unshare -m`)
 * puts read-only overlays over /usr/lib (adding the unpacked /usr/lib/ganeti) and /etc (adding
 * /etc/ganeti with the package's symlinks, its kvm-ifup-os conffile and the test's custom script),
 * then `ip netns exec NS env -i ENV... /usr/lib/ganeti/kvm-ifup TAP`. The host's /usr/lib and /etc
 * are not changed (mounts below them, such as a container's /etc/resolv.conf, are carried over),
 * and the mount namespace ends with the script. Writes under /etc or /usr/lib fail (EROFS) inside,
 * except below what `ip netns exec` binds from /etc/netns/NS (the host's real directories, as for
 * the other tests: /etc/netns/NS/vmrouter/vmrouter.conf is /etc/vmrouter/vmrouter.conf there).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { run, type RunResult } from './run.js';

export const CACHE = process.env.VMROUTER_TEST_GANETI_CACHE ?? '/var/cache/vmrouter-test-ganeti';
/** the unpacked packages; ganeti.json there describes them */
const UNPACKED = join(CACHE, 'unpacked');
const MANIFEST = join(UNPACKED, 'ganeti.json');
const REPO = resolve(import.meta.dirname, '..', '..');

/** Ganeti's paths as a node sees them (lib/pathutils.py: KVM_IFUP = PKGLIBDIR + "/kvm-ifup"; CONF_DIR = /etc/ganeti). */
export const KVM_IFUP = '/usr/lib/ganeti/kvm-ifup';
/** the only custom script Ganeti 3.0.x runs: kvm-ifup's `exec $CONF_DIR/kvm-vif-bridge` */
export const VIF_BRIDGE = 'kvm-vif-bridge';

export interface GanetiPackage {
  name: string;
  version: string;
  deb: string;
}

export interface GanetiScripts {
  /** Version of the `ganeti` package, e.g. 3.0.2-3 */
  version: string;
  /** e.g. 3.0: ganeti-3.0, /usr/lib/ganeti/3.0 */
  series: string;
  packages: GanetiPackage[];
  /** the packages unpacked (dpkg-deb -x), one tree */
  root: string;
  /** kvm-ifup as Ganeti runs it (in the namespace runKvmIfup makes) */
  ifup: string;
  /** the files themselves, in root */
  ifupFile: string;
  netCommonFile: string;
  /** the package's /etc/ganeti/kvm-ifup-os (conffile), sourced by kvm-ifup for gnt.com.* TAPs */
  ifupOsFile: string;
  /** kvm-ifdown, null when the package has none (3.0.x has none) */
  ifdown: string | null;
  ifdownFile: string | null;
}

const sh = (file: string, args: string[]) => spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const has = (tool: string) => sh('sh', ['-c', 'command -v "$0"', tool]).status === 0;

function overlaySupported(): boolean {
  const listed = () => /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));
  if (listed()) return true;
  sh('modprobe', ['overlay']);
  return listed();
}

/** Why the real Ganeti scripts cannot run here, or null: the tests skip with this reason rather than pass. */
export function ganetiUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network and mount namespaces)';
  for (const tool of ['bash', 'ip', 'unshare', 'mount', 'env', 'dpkg-deb']) if (!has(tool)) return `${tool} is not installed`;
  if (!overlaySupported()) return 'the kernel has no overlay file system (needed to show /usr/lib/ganeti and /etc/ganeti to the scripts)';
  if (existsSync(MANIFEST)) return null;
  if (!has('apt-get')) return 'apt-get is missing and the Ganeti packages are not in ' + CACHE;
  const show = sh('apt-cache', ['show', '--no-all-versions', 'ganeti']);
  if (show.status !== 0 || !/^Version:/m.test(show.stdout)) return 'apt knows no ganeti package (apt-get update?)';
  return null;
}

let prepared: Promise<GanetiScripts> | null = null;

/** Downloads and unpacks the packages once (into CACHE); later calls read what is there. */
export function prepareGanetiScripts(): Promise<GanetiScripts> {
  prepared ??= prepare().catch((e) => {
    prepared = null;
    throw e;
  });
  return prepared;
}

async function prepare(): Promise<GanetiScripts> {
  if (!existsSync(MANIFEST)) {
    mkdirSync(CACHE, { recursive: true });
    // unpack beside and rename, so that an interrupted or concurrent run never sees a half tree
    const tmp = mkdtempSync(join(CACHE, 'download-'));
    try {
      const apt = (pkgs: string[]) =>
        // the sandbox user _apt cannot write into tmp; root may, and the files are only unpacked
        run(['apt-get', '-q', '-o', 'DPkg::Lock::Timeout=600', '-o', 'APT::Sandbox::User=root', 'download', ...pkgs], { cwd: tmp });
      await apt(['ganeti']);
      const meta = debs(tmp).find((d) => d.name === 'ganeti');
      if (!meta) throw new Error('apt-get download ganeti produced no ganeti_*.deb');
      // the code is in ganeti-X.Y, pinned by the metapackage: Depends: ganeti-3.0 (= 3.0.2-3), ...
      const depends = (await run(['dpkg-deb', '-f', join(tmp, meta.deb), 'Depends'])).stdout;
      const dep = /(ganeti-(\d+\.\d+)) \(= ([^)\s]+)\)/.exec(depends);
      if (!dep) throw new Error(`ganeti ${meta.version} depends on no ganeti-X.Y (= VERSION): ${depends}`);
      await apt([`${dep[1]}=${dep[3]}`]);
      const packages = debs(tmp);
      const root = join(tmp, 'unpacked');
      mkdirSync(join(tmp, 'control'));
      for (const p of packages) {
        await run(['dpkg-deb', '-x', join(tmp, p.deb), root]);
        await run(['dpkg-deb', '-e', join(tmp, p.deb), join(tmp, 'control', p.name)]);
        verifyMd5sums(root, join(tmp, 'control', p.name, 'md5sums'));
      }
      mkdirSync(join(root, 'debs'));
      for (const p of packages) renameSync(join(tmp, p.deb), join(root, 'debs', p.deb));
      const series = dep[2]!;
      const usrLib = readdirSync(join(root, 'usr/lib'));
      if (usrLib.join() !== 'ganeti') throw new Error(`the packages put ${usrLib.join(', ')} in /usr/lib, not only ganeti: the overlay would show them too`);
      writeFileSync(join(root, 'ganeti.json'), JSON.stringify({ version: meta.version, series, packages }, null, 2) + '\n');
      try {
        renameSync(root, UNPACKED);
      } catch (e) {
        if (!existsSync(MANIFEST)) throw e; // else another run got there first
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const m = JSON.parse(readFileSync(MANIFEST, 'utf8')) as { version: string; series: string; packages: GanetiPackage[] };
  const lib = join(UNPACKED, 'usr/lib/ganeti', m.series, 'usr/lib/ganeti');
  const ifdownFile = join(lib, 'kvm-ifdown');
  const hasIfdown = existsSync(ifdownFile) && existsSync(join(UNPACKED, 'usr/lib/ganeti/kvm-ifdown'));
  return {
    version: m.version,
    series: m.series,
    packages: m.packages.map((p) => ({ ...p, deb: join(UNPACKED, 'debs', p.deb) })),
    root: UNPACKED,
    ifup: KVM_IFUP,
    ifupFile: join(lib, 'kvm-ifup'),
    netCommonFile: join(lib, 'net-common'),
    ifupOsFile: join(UNPACKED, 'etc/ganeti/kvm-ifup-os'),
    ifdown: hasIfdown ? '/usr/lib/ganeti/kvm-ifdown' : null,
    ifdownFile: hasIfdown ? ifdownFile : null,
  };
}

function debs(dir: string): GanetiPackage[] {
  return readdirSync(dir)
    .map((deb) => /^([^_]+)_([^_]+)_[^_]+\.deb$/.exec(deb))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1]!, version: decodeURIComponent(m[2]!), deb: m[0] }));
}

/** The unpacked files are the package's: every md5sums line must match. */
function verifyMd5sums(root: string, md5sums: string): void {
  if (!existsSync(md5sums)) return;
  for (const line of readFileSync(md5sums, 'utf8').split('\n')) {
    const m = /^([0-9a-f]{32}) {2}(.+)$/.exec(line);
    if (!m) continue;
    const sum = createHash('md5').update(readFileSync(join(root, m[2]!))).digest('hex');
    if (sum !== m[1]) throw new Error(`${m[2]}: md5sum ${sum}, the package says ${m[1]}`);
  }
}

export interface GanetiNetwork {
  name: string;
  uuid?: string;
  /** gnt-network add --network / --gateway / --network6 / --gateway6 / --mac-prefix */
  subnet?: string;
  gateway?: string;
  subnet6?: string;
  gateway6?: string;
  macPrefix?: string;
  tags?: string[];
}

export interface GanetiNic {
  instance: string;
  /** the TAP Ganeti opened for the NIC (the kernel's name, tapN; gnt.com.N for instance communication) */
  tap: string;
  mac: string;
  /** nicparams mode: routed (default), bridged, openvswitch */
  mode?: string;
  /** nicparams link (routed: the routing table); absent when empty */
  link?: string | null;
  /** the NIC's one address (IPv4, or IPv6: Ganeti accepts either); absent when none */
  ip?: string | null;
  /** the NIC's position in the instance (INTERFACE_INDEX) */
  index?: number;
  uuid?: string;
  /** the NIC's name (gnt-instance modify --net N:modify,name=...); INTERFACE_NAME when set */
  name?: string | null;
  /** nicparams vlan: a 3.0 cluster always has the key (NICC_DEFAULTS vlan ""); null leaves VLAN out */
  vlan?: string | null;
  /** instance tags (a set in Ganeti: any order) */
  tags?: string[];
  network?: GanetiNetwork | null;
  /** PATH of ganeti-noded, which Ganeti extends with :/sbin:/usr/sbin */
  path?: string;
}

const fakeUuid = (seed: string) => {
  const h = createHash('sha1').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

/**
 * The environment kvm-ifup gets for a NIC, as Ganeti 3.0.2 builds it:
 *
 * lib/hypervisor/hv_base.py ConfigureNIC(cmd, instance, seq, nic, tap), lines 227-257:
 *     env = {
 *       "PATH": "%s:/sbin:/usr/sbin" % os.environ["PATH"],
 *       "INSTANCE": instance.name,
 *       "MAC": nic.mac,
 *       "MODE": nic.nicparams[constants.NIC_MODE],
 *       "INTERFACE": tap,
 *       "INTERFACE_INDEX": str(seq),
 *       "INTERFACE_UUID": nic.uuid,
 *       "TAGS": " ".join(instance.GetTags()),
 *     }
 *     if nic.ip: env["IP"] = nic.ip
 *     if nic.name: env["INTERFACE_NAME"] = nic.name
 *     if nic.nicparams[constants.NIC_LINK]: env["LINK"] = nic.nicparams[constants.NIC_LINK]
 *     if constants.NIC_VLAN in nic.nicparams: env["VLAN"] = nic.nicparams[constants.NIC_VLAN]
 *     if nic.network: env.update(objects.Network.FromDict(nic.netinfo).HooksDict())
 *     if nic.nicparams[constants.NIC_MODE] == constants.NIC_MODE_BRIDGED: env["BRIDGE"] = link
 *     result = utils.RunCmd(cmd, env=env)
 * lib/objects.py Network.HooksDict(), lines 2386-2400: NETWORK_NAME, NETWORK_UUID, NETWORK_TAGS
 *   always; NETWORK_SUBNET, NETWORK_GATEWAY, NETWORK_SUBNET6, NETWORK_GATEWAY6, NETWORK_MAC_PREFIX
 *   when set.
 * lib/utils/process.py _BuildCmdEnvironment(), lines 142-155: RunCmd starts from a copy of
 *   ganeti-noded's own environment with LC_ALL=C, then adds env. Of noded's environment only PATH
 *   is modelled here (a node has what init gave noded: PATH, maybe LANG and the like).
 * lib/rpc/node.py _InstDict(), lines 907-910: nicparams are filled from the cluster defaults,
 *   so "vlan" is always a key (NICC_DEFAULTS = {"link": "xen-br0", "mode": "bridged", "vlan": ""}).
 */
export function ganetiEnv(nic: GanetiNic): Record<string, string> {
  const mode = nic.mode ?? 'routed';
  const index = nic.index ?? 0;
  const env: Record<string, string> = {
    PATH: `${nic.path ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'}:/sbin:/usr/sbin`,
    LC_ALL: 'C',
    INSTANCE: nic.instance,
    MAC: nic.mac,
    MODE: mode,
    INTERFACE: nic.tap,
    INTERFACE_INDEX: String(index),
    INTERFACE_UUID: nic.uuid ?? fakeUuid(`nic ${nic.instance} ${index}`),
    TAGS: (nic.tags ?? []).join(' '),
  };
  if (nic.ip) env.IP = nic.ip;
  if (nic.name) env.INTERFACE_NAME = nic.name;
  if (nic.link) env.LINK = nic.link;
  if (nic.vlan !== null) env.VLAN = nic.vlan ?? '';
  const n = nic.network;
  if (n) {
    env.NETWORK_NAME = n.name;
    env.NETWORK_UUID = n.uuid ?? fakeUuid(`network ${n.name}`);
    env.NETWORK_TAGS = (n.tags ?? []).join(' ');
    if (n.subnet) env.NETWORK_SUBNET = n.subnet;
    if (n.gateway) env.NETWORK_GATEWAY = n.gateway;
    if (n.subnet6) env.NETWORK_SUBNET6 = n.subnet6;
    if (n.gateway6) env.NETWORK_GATEWAY6 = n.gateway6;
    if (n.macPrefix) env.NETWORK_MAC_PREFIX = n.macPrefix;
  }
  if (mode === 'bridged' && nic.link) env.BRIDGE = nic.link;
  return env;
}

/**
 * kvm-ifup's $1 as Ganeti 3.0.2 passes it (lib/hypervisor/hv_kvm/__init__.py _ConfigureNIC:
 * RunCmd([KVM_IFUP, tap])). On instance start and hot-add the name comes from netdev.OpenTap as
 * bytes, and RunCmd's `[str(val) for val in cmd]` makes it the text "b'tap0'" (INTERFACE, which
 * goes through os.fsencode, is right). After an incoming migration it is read back from
 * /var/run/ganeti/kvm-hypervisor/nics/INSTANCE/N as str: "tap0". No script uses $1.
 */
export function ganetiArgv1(tap: string, when: 'start' | 'hotplug' | 'migration' = 'start'): string {
  return when === 'migration' ? tap : `b'${tap}'`;
}

export interface GanetiRunOptions {
  /** the custom script's name in /etc/ganeti (default kvm-vif-bridge, the only one 3.0.x runs) */
  hookName?: string;
  /** more files in /etc for this call, by path below /etc: { 'ganeti/kvm-ifup-custom': text } (mode 0755) */
  etc?: Record<string, string>;
  /** leave the package's /etc/ganeti/kvm-ifup-os out (default: it is there, as on a node) */
  noIfupOs?: boolean;
  /** kvm-ifup's $1 (default ganetiArgv1(tap, 'start')) */
  argv1?: string;
  ok?: boolean;
  timeout?: number;
}

/** Runs the package's kvm-ifup in namespace ns as Ganeti would, with customScript as /etc/ganeti/kvm-vif-bridge (null: none). */
export async function runKvmIfup(ns: string, tap: string, env: Record<string, string>, customScript: string | null, opts: GanetiRunOptions = {}): Promise<RunResult> {
  const s = await prepareGanetiScripts();
  return runScript(s, ns, s.ifup, opts.argv1 ?? ganetiArgv1(tap), env, customScript, opts.hookName ?? VIF_BRIDGE, opts);
}

/**
 * Runs the package's kvm-ifdown, with customScript as /etc/ganeti/kvm-ifdown-custom (the name of
 * the ifdown design). Returns null when the package has no kvm-ifdown, as Debian 12's 3.0.2:
 * Ganeti then runs nothing when the NIC goes away; ganetiNicGone does what does happen.
 */
export async function runKvmIfdown(ns: string, tap: string, env: Record<string, string>, customScript: string | null, opts: GanetiRunOptions = {}): Promise<RunResult | null> {
  const s = await prepareGanetiScripts();
  if (!s.ifdown) return null;
  return runScript(s, ns, s.ifdown, opts.argv1 ?? tap, env, customScript, opts.hookName ?? 'kvm-ifdown-custom', opts);
}

/**
 * What happens on a Ganeti 3.0.x node when a NIC goes away (instance shutdown, migration away,
 * hot-remove, a failed start): no script runs; qemu closes the TAP, which was not persistent, and
 * the kernel deletes it. A test's TAP (`ip tuntap add`) is persistent, so it is deleted here.
 */
export async function ganetiNicGone(ns: string, tap: string): Promise<void> {
  await run(['ip', '-n', ns, 'link', 'del', 'dev', tap]);
}

/** A custom script that records its arguments and environment (sorted `env` output) in file. */
export function dumpScript(file: string): string {
  return `#!/bin/sh\n{ echo "argc=$#"; for a in "$@"; do echo "arg=$a"; done; echo "cwd=$(pwd)"; env | LC_ALL=C sort; } > '${file.replaceAll("'", "'\\''")}'\n`;
}

/** examples/ganeti/kvm-vif-bridge with /usr/sbin/vmrouter replaced by bin (the freshly built one). */
export function exampleScript(bin: string): string {
  const text = readFileSync(join(REPO, 'examples/ganeti', VIF_BRIDGE), 'utf8');
  if (!text.includes('/usr/sbin/vmrouter')) throw new Error(`examples/ganeti/${VIF_BRIDGE} no longer runs /usr/sbin/vmrouter: update the test`);
  return text.replaceAll('/usr/sbin/vmrouter', bin);
}

const sq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** Mount points strictly below dir (e.g. /etc/resolv.conf in a container), outermost first. */
function mountsBelow(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p.startsWith(`${dir}/`));
  return [...new Set(points)].filter((p) => !points.some((q) => q !== p && p.startsWith(`${q}/`)));
}

async function runScript(
  s: GanetiScripts,
  ns: string,
  script: string,
  argv1: string,
  env: Record<string, string>,
  customScript: string | null,
  hookName: string,
  opts: GanetiRunOptions,
): Promise<RunResult> {
  const call = mkdtempSync(join(tmpdir(), 'vmrouter-ganeti-'));
  try {
    // /etc/ganeti as on a node: the postinst's lib and share links, the conffile kvm-ifup-os, the custom script
    const etc = join(call, 'etc');
    const ganeti = join(etc, 'ganeti');
    mkdirSync(ganeti, { recursive: true });
    symlinkSync(`/usr/lib/ganeti/${s.series}`, join(ganeti, 'lib'));
    symlinkSync(`/usr/share/ganeti/${s.series}`, join(ganeti, 'share'));
    const files: Record<string, string> = { ...(opts.etc ?? {}) };
    if (!opts.noIfupOs) files['ganeti/kvm-ifup-os'] = readFileSync(s.ifupOsFile, 'utf8');
    if (customScript !== null) files[`ganeti/${hookName}`] = customScript;
    // `ip netns exec` bind-mounts each /etc/netns/NS/X over /etc/X, but only where /etc/X exists:
    // give the overlay an empty X for those the host lacks (e.g. /etc/vmrouter), as netns.ts relies on
    const nsEtc = join('/etc/netns', ns);
    if (existsSync(nsEtc)) {
      for (const x of readdirSync(nsEtc)) {
        if (existsSync(join('/etc', x)) || existsSync(join(etc, x))) continue;
        if (statSync(join(nsEtc, x)).isDirectory()) mkdirSync(join(etc, x));
        else writeFileSync(join(etc, x), '');
      }
    }
    for (const [rel, text] of Object.entries(files)) {
      const path = join(etc, rel);
      if (!path.startsWith(`${etc}/`)) throw new Error(`etc file ${rel} is not below /etc`);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      chmodSync(path, 0o755);
    }
    // the packages put nothing but /usr/lib/ganeti below /usr/lib (checked in prepare)
    const usr = join(s.root, 'usr/lib');
    const keep = join(call, 'keep');
    mkdirSync(keep);
    const lines = ['set -e'];
    const kept: [string, string][] = [];
    // the real /etc/netns stays reachable (and writable) under the read-only /etc overlay, so that
    // what `ip netns exec` binds from it is the host's directory, not the overlay's copy
    const keepers = [...mountsBelow('/etc'), ...mountsBelow('/usr/lib')];
    if (existsSync('/etc/netns') && !keepers.some((p) => p === '/etc/netns' || '/etc/netns'.startsWith(`${p}/`))) keepers.unshift('/etc/netns');
    for (const p of keepers) {
      const k = join(keep, String(kept.length));
      if (statSync(p).isDirectory()) mkdirSync(k);
      else writeFileSync(k, '');
      lines.push(`mount --rbind ${sq(p)} ${sq(k)}`);
      kept.push([k, p]);
    }
    lines.push(`mount -t overlay -o ro,lowerdir=${usr}:/usr/lib vmrouter-test-ganeti /usr/lib`);
    lines.push(`mount -t overlay -o ro,lowerdir=${etc}:/etc vmrouter-test-ganeti /etc`);
    for (const [k, p] of kept) lines.push(`mount --rbind ${sq(k)} ${sq(p)}`);
    // Ganeti's RunCmd: the environment given (nothing else), cwd /, stdin closed
    lines.push('exec ip netns exec "$@"');
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    for (const a of envArgs) if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) throw new Error(`bad environment variable ${JSON.stringify(a)}`);
    return await run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', lines.join('\n'), 'sh', ns, 'env', '-i', ...envArgs, script, argv1], {
      cwd: '/',
      stdin: 'ignore',
      extendEnv: false,
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      ok: opts.ok ?? true,
      ...(opts.timeout ? { timeout: opts.timeout } : {}),
    });
  } finally {
    rmSync(call, { recursive: true, force: true });
  }
}
