/**
 * The tiny guest: a real qemu VM (TCG) with virtio-net on a real TAP, for tests that must see what a
 * VM's own kernel does (DHCPv4 with udhcpc, SLAAC from a Router Advertisement, DAD, ARP, pings from
 * addresses it was not given). Debian's kernel from the kernel lab (./kernel-lab.ts) boots a
 * busybox-only initramfs: guest/init loads virtio_net, defines the qg_* steps and runs the test's
 * script; guest/udhcpc.script applies the lease.
 *
 * Results come back on the guest's second serial port (ttyS1), which qemu connects to its stdio, so
 * kernel messages (ttyS0, kept in a file for when the boot fails) never interleave with them. The
 * guest's lines are "@@QG mark NAME UPTIME", "@@QG-BEGIN KEY" … "@@QG-END KEY RC" and "@@QG end";
 * the host can answer on the same port (Guest.release, Guest.exec).
 *
 * The TAP lives in the test's namespace; qemu is started inside it with `ip netns exec`, under
 * `setpriv --pdeathsig KILL` (it dies with the test process), with a pid file that sweepGuests uses
 * after an interrupted run. The kernel boots through its PVH entry (the vmlinux unpacked from the
 * bzImage, cached): under TCG that is ~3 s to /init instead of ~10 s. The qemu command line and the
 * pitfalls are in docs/hypervisors.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { labUnavailable, moduleOrder, prepareKernel, type Kernel } from './kernel-lab.js';
import { inNs, run } from './run.js';
import { ROOT } from './vmrouter.js';

const GUEST_DIR = join(ROOT, 'test/lib/guest');
const INIT = join(GUEST_DIR, 'init');
const UDHCPC_SCRIPT = join(GUEST_DIR, 'udhcpc.script');
/** what the guest insmods (dependencies computed): virtio-net over virtio-pci */
export const GUEST_MODULES = ['virtio_pci', 'virtio_net'];
/** pid files of running guests, for sweepGuests */
const RUN_DIR = '/run/vmrouter-test-guest';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why a guest cannot boot here, or null (the tests skip with this reason). */
export function guestUnavailable(): string | null {
  const lab = labUnavailable();
  if (lab) return lab;
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (no TAP devices)';
  for (const tool of ['modprobe', 'setpriv', 'ip']) {
    try {
      execFileSync('sh', ['-c', 'command -v "$0"', tool], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed`;
    }
  }
  // the initramfs holds nothing but busybox: it must be the static one (busybox-static)
  if (readFileSync('/bin/busybox').includes('/lib64/ld-linux')) return '/bin/busybox is dynamically linked (install busybox-static)';
  return null;
}

export interface GuestInitrd {
  kernel: Kernel;
  /** what qemu's -kernel boots: the uncompressed vmlinux (PVH entry) when there is one, else the bzImage */
  image: string;
  /** the cached base archive (busybox, init, udhcpc script, modules) */
  initrd: string;
  /** the .ko files it loads, in order */
  modules: string[];
}

/**
 * The kernel's ELF image (guest-vmlinux next to it), for qemu's PVH boot: under TCG the bzImage's
 * real-mode setup and decompressor take 4 to 10 s of a boot, the PVH entry skips both. Null when the
 * kernel has no PVH entry or its payload is not xz or gzip (then the bzImage boots, slower).
 */
export function pvhImage(k: Kernel): string | null {
  const out = join(k.dir, 'guest-vmlinux');
  if (existsSync(out)) return out;
  const config = join(k.dir, 'boot', `config-${k.release}`);
  if (!existsSync(config) || !/^CONFIG_PVH=y$/m.test(readFileSync(config, 'utf8'))) return null;
  const bz = readFileSync(k.vmlinuz);
  for (const [magic, argv] of [
    [Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), ['xz', '-dc', '--single-stream']],
    [Buffer.from([0x1f, 0x8b, 0x08]), ['gzip', '-dc']],
  ] as const) {
    const at = bz.indexOf(magic);
    if (at < 0) continue;
    let elf: Buffer;
    try {
      // gzip complains about the bytes after the stream (exit 2) but has written the image
      elf = execFileSync(argv[0], argv.slice(1), { input: bz.subarray(at), maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] });
    } catch (e) {
      elf = (e as { stdout?: Buffer }).stdout ?? Buffer.alloc(0);
    }
    if (elf.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
      const part = `${out}.${process.pid}.tmp`;
      writeFileSync(part, elf);
      renameSync(part, out);
      return out;
    }
  }
  return null;
}

/**
 * The guest's base initramfs, cached next to the kernel as guest-initrd-HASH.cpio; HASH covers the
 * init, the udhcpc script, busybox and the module list, so editing any of them rebuilds it.
 */
export function buildGuestInitrd(kernel: Kernel = prepareKernel()): GuestInitrd {
  const modules = moduleOrder(kernel, GUEST_MODULES);
  const busybox = readFileSync('/bin/busybox');
  const hash = createHash('sha256');
  for (const part of [readFileSync(INIT), readFileSync(UDHCPC_SCRIPT), busybox, Buffer.from(modules.join('\n'))]) hash.update(part).update('\0');
  const name = `guest-initrd-${hash.digest('hex').slice(0, 12)}.cpio`;
  const initrd = join(kernel.dir, name);
  if (!existsSync(initrd)) {
    const tmp = mkdtempSync('/tmp/vmrouter-guest-initrd-');
    try {
      for (const d of ['bin', 'modules', 'proc', 'sys', 'dev', 'run', 'tmp', 'guest']) mkdirSync(join(tmp, d));
      writeFileSync(join(tmp, 'bin/busybox'), busybox, { mode: 0o755 });
      writeFileSync(join(tmp, 'init'), readFileSync(INIT), { mode: 0o755 });
      writeFileSync(join(tmp, 'udhcpc.script'), readFileSync(UDHCPC_SCRIPT), { mode: 0o755 });
      for (const p of modules) writeFileSync(join(tmp, 'modules', basename(p)), readFileSync(p));
      writeFileSync(join(tmp, 'modules.list'), modules.map((p) => basename(p)).join('\n') + '\n');
      const part = `${initrd}.${process.pid}.tmp`;
      writeFileSync(part, cpio(tmp));
      renameSync(part, initrd); // atomic: a concurrent build writes the same bytes
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    // archives of earlier inits (a guest booting from one has it in memory already)
    for (const f of readdirSync(kernel.dir)) if (/^guest-initrd-[0-9a-f]{12}\.cpio$/.test(f) && f !== name) rmSync(join(kernel.dir, f), { force: true });
  }
  return { kernel, image: pvhImage(kernel) ?? kernel.vmlinuz, initrd, modules };
}

/** A newc archive of DIR's contents, owned by root (the kernel unpacks concatenated archives in order). */
function cpio(dir: string): Buffer {
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      files.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk('');
  return execFileSync('cpio', ['-o', '-H', 'newc', '--quiet', '-R', '0:0'], { cwd: dir, input: files.join('\n') + '\n', maxBuffer: 1 << 28 });
}

/** The programs (looked up in PATH) and every shared object ldd says they load, as absolute paths. */
export function withLibraries(programs: string[]): string[] {
  const files = new Set<string>();
  for (const prog of programs) {
    const path = prog.startsWith('/') ? prog : execFileSync('sh', ['-c', 'command -v "$0"', prog], { encoding: 'utf8' }).trim();
    if (!path.startsWith('/')) throw new Error(`guest binaries: ${prog} is not installed`);
    files.add(path);
    let ldd = '';
    try {
      ldd = execFileSync('ldd', [path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue; // static ("not a dynamic executable", exit 1)
    }
    for (const line of ldd.split('\n')) {
      const lib = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
      if (lib) files.add(lib);
    }
  }
  return [...files];
}

/** A TAP in namespace NS, as a hypervisor's ifup script finds it: persistent, owned by root (qemu runs as root). */
export async function createTap(ns: string, tap: string, opts: { up?: boolean; dad?: boolean } = {}): Promise<void> {
  await inNs(ns, ['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  // no carrier until qemu opens it: the host's link-local address (and its DAD) waits for that
  if (opts.dad === false) await inNs(ns, ['sysctl', '-qw', `net.ipv6.conf.${tap}.accept_dad=0`]);
  if (opts.up ?? true) await inNs(ns, ['ip', 'link', 'set', 'dev', tap, 'up']);
}

export interface GuestOptions {
  /** namespace holding the TAP; qemu runs in it */
  ns: string;
  tap: string;
  /** the guest's MAC (its eth0); the TAP's own MAC is a different one */
  mac: string;
  /**
   * busybox shell sourced by the guest's init after the modules are loaded, with the qg_* steps of
   * test/lib/guest/init at hand; default: qg_standard (link up, DHCPv4, SLAAC, report, pings, spoofing)
   */
  script?: string;
  /** QG_* variables for the script (QG_TARGET4, QG_TARGET6, QG_SPOOF4, QG_SPOOF6, QG_SLAAC=0, …) */
  env?: Record<string, string>;
  /** SIGKILL after this long (default 180 s) */
  timeoutMs?: number;
  memMb?: number;
  /** virtio-net offloads through the TAP's vnet header (default true, as Ganeti and libvirt run VMs) */
  offload?: boolean;
  /** more kernel command line */
  append?: string;
  /** boot the bzImage rather than the PVH vmlinux (slower; to rule out the PVH path) */
  bzImage?: boolean;
  /**
   * host programs to copy into this boot's initramfs, with the shared libraries ldd names, at their
   * own paths (e.g. 'rdisc6', 'dhclient' for qg_rdisc6 and qg_dhcp6_info); busybox has neither
   */
  binaries?: string[];
  initrd?: GuestInitrd;
}

export interface Mark {
  /** the guest's /proc/uptime when it got there */
  uptime: number;
  /** ms since qemu was started */
  hostMs: number;
}

export interface GuestExit {
  /** qemu's exit status; null when killed by a signal */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** the script returned and the guest powered off by itself */
  ended: boolean;
  /** killed by timeoutMs */
  timedOut: boolean;
  seconds: number;
}

export interface GuestRun extends GuestExit {
  /** output of each qg_result KEY (the last one for a repeated KEY) */
  results: Record<string, string>;
  /** its exit status */
  codes: Record<string, number>;
  marks: Record<string, Mark>;
  /** the kernel console (ttyS0) */
  output: string;
  /** everything the guest sent on ttyS1 */
  channel: string;
  /** qemu's own stderr */
  qemuStderr: string;
}

/** pid of every qemu this process runs: killed when the process exits */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

const shQuote = (v: string) => `'${v.replaceAll("'", "'\\''")}'`;

/** A running guest: its marks and results as they come, and its end. */
export class Guest {
  readonly results: Record<string, string> = {};
  readonly codes: Record<string, number> = {};
  readonly marks: Record<string, Mark> = {};
  readonly blocks: { key: string; code: number; output: string }[] = [];
  channel = '';
  qemuStderr = '';
  ended = false;
  waiting = new Set<string>();
  serving = false;
  private exit: GuestExit | null = null;
  private readonly exited: Promise<GuestExit>;
  private readonly started = Date.now();
  private timedOut = false;
  private pending = '';
  private block: { key: string; lines: string[] } | null = null;
  private listeners = new Set<() => void>();
  private execs = 0;

  private constructor(
    readonly opts: GuestOptions,
    readonly argv: string[],
    private readonly dir: string,
    private readonly pidFile: string,
    private readonly proc: ChildProcess,
  ) {
    live.add(proc);
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => this.onData(d));
    proc.stderr!.on('data', (d: Buffer) => (this.qemuStderr += String(d)));
    proc.stdin!.on('error', () => {}); // EPIPE once qemu is gone
    const timer = setTimeout(() => {
      this.timedOut = true;
      proc.kill('SIGKILL');
    }, opts.timeoutMs ?? 180_000);
    this.exited = new Promise((resolve) => {
      proc.on('close', (code, signal) => {
        clearTimeout(timer);
        live.delete(proc);
        rmSync(this.pidFile, { force: true });
        this.exit = { code, signal, ended: this.ended, timedOut: this.timedOut, seconds: (Date.now() - this.started) / 1000 };
        this.notify();
        resolve(this.exit);
      });
    });
  }

  /** Boots the guest: qemu in opts.ns on opts.tap, with the base initramfs plus the script's archive. */
  static start(opts: GuestOptions): Guest {
    const base = opts.initrd ?? buildGuestInitrd();
    const dir = mkdtempSync('/tmp/vmrouter-guest-');
    const extra = join(dir, 'extra');
    mkdirSync(join(extra, 'guest'), { recursive: true });
    const env = Object.entries(opts.env ?? {}).map(([k, v]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`guest env: bad name ${k}`);
      return `${k}=${shQuote(v)}\n`;
    });
    writeFileSync(join(extra, 'guest', 'env'), env.join(''));
    writeFileSync(join(extra, 'guest', 'script'), `${opts.script ?? 'qg_standard'}\n`);
    for (const file of withLibraries(opts.binaries ?? [])) {
      mkdirSync(join(extra, dirname(file)), { recursive: true });
      writeFileSync(join(extra, file), readFileSync(file), { mode: 0o755 });
    }
    const initrd = join(dir, 'initrd.cpio');
    writeFileSync(initrd, Buffer.concat([readFileSync(base.initrd), cpio(extra)]));
    mkdirSync(RUN_DIR, { recursive: true });
    const name = `qg-${opts.ns}-${opts.tap}`;
    const pidFile = join(RUN_DIR, `${name}.pid`);
    const argv = [
      'ip', 'netns', 'exec', opts.ns,
      'setpriv', '--pdeathsig', 'KILL', '--',
      'qemu-system-x86_64',
      '-name', name, '-pidfile', pidFile,
      '-accel', 'tcg', '-m', String(opts.memMb ?? 256), '-smp', '1',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', opts.bzImage ? base.kernel.vmlinuz : base.image, '-initrd', initrd,
      '-append', `console=ttyS0 panic=-1 loglevel=4 ${opts.append ?? ''}`.trim(),
      // ttyS0: the kernel console, to a file; ttyS1: the results channel, qemu's stdin and stdout
      '-chardev', `file,id=con,path=${join(dir, 'console')}`, '-serial', 'chardev:con',
      '-chardev', 'stdio,id=qg,signal=off', '-serial', 'chardev:qg',
      '-netdev', `tap,id=n0,ifname=${opts.tap},script=no,downscript=no${opts.offload === false ? ',vnet_hdr=off' : ''}`,
      '-device', `virtio-net-pci,netdev=n0,mac=${opts.mac}`,
    ];
    // for sweepGuests, should this process die before stop()
    writeFileSync(join(RUN_DIR, `${name}.dir`), `${dir}\n`);
    // `ip netns exec` and setpriv exec: the child's pid is qemu's
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    return new Guest(opts, argv, dir, pidFile, proc);
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** The kernel console so far. */
  get console(): string {
    const f = join(this.dir, 'console');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** The last lines of console and channel, for a failure message. */
  describe(lines = 40): string {
    const tail = (s: string) => s.replace(/\r/g, '').split('\n').slice(-lines).join('\n');
    return `console:\n${tail(this.console)}\nchannel:\n${tail(this.channel)}${this.qemuStderr ? `\nqemu:\n${this.qemuStderr}` : ''}`;
  }

  private onData(text: string): void {
    this.channel += text;
    this.pending += text;
    const lines = this.pending.split('\n');
    this.pending = lines.pop()!;
    for (const raw of lines) this.onLine(raw.replace(/\r$/, ''));
    this.notify();
  }

  private onLine(line: string): void {
    if (this.block) {
      const end = /^@@QG-END (\S+) (\d+)$/.exec(line);
      if (end && end[1] === this.block.key) {
        const output = this.block.lines.join('\n');
        this.results[end[1]] = output;
        this.codes[end[1]] = Number(end[2]);
        this.blocks.push({ key: end[1], code: Number(end[2]), output });
        this.block = null;
      } else this.block.lines.push(line);
      return;
    }
    let m: RegExpExecArray | null;
    if ((m = /^@@QG-BEGIN (\S+)$/.exec(line))) this.block = { key: m[1]!, lines: [] };
    else if ((m = /^@@QG mark (\S+) ([\d.]+)$/.exec(line))) this.marks[m[1]!] = { uptime: Number(m[2]), hostMs: Date.now() - this.started };
    else if ((m = /^@@QG waiting (\S+)$/.exec(line))) this.waiting.add(m[1]!);
    else if (line === '@@QG serving') this.serving = true;
    else if (line === '@@QG end') this.ended = true;
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Resolves with check()'s first truthy value; rejects after `ms`, or when qemu exits first. */
  private until<T>(what: string, check: () => T | undefined | null | false, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, v?: T) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (err) reject(err);
        else resolve(v as T);
      };
      const listener = () => {
        const v = check();
        if (v) done(null, v);
        else if (this.exit) done(new Error(`guest ${this.opts.tap}: exited (${JSON.stringify(this.exit)}) before ${what}\n${this.describe()}`));
      };
      const timer = setTimeout(() => done(new Error(`guest ${this.opts.tap}: no ${what} within ${ms} ms\n${this.describe()}`)), ms);
      this.listeners.add(listener);
      listener();
    });
  }

  /** Waits for "@@QG mark NAME" (qg_mark: dev, link-up, dhcp4, slaac6-addr, slaac6, done, …). */
  wait(name: string, ms = 120_000): Promise<Mark> {
    return this.until(`mark ${name}`, () => this.marks[name], ms);
  }

  /** Waits for the result KEY: its output and exit status. */
  result(key: string, ms = 120_000): Promise<{ code: number; output: string }> {
    return this.until(`result ${key}`, () => (key in this.codes ? { code: this.codes[key]!, output: this.results[key]! } : undefined), ms);
  }

  /** Lets the guest past `qg_wait_host NAME` (waits until it is there). */
  async release(name: string, ms = 120_000): Promise<void> {
    await this.until(`qg_wait_host ${name}`, () => this.waiting.has(name), ms);
    this.waiting.delete(name);
    this.proc.stdin!.write(`${name}\n`);
  }

  /**
   * Runs shell text in the guest (its script must call qg_serve): sourced by the guest's shell, so
   * the qg_* steps are there; its output (stdout and stderr) and exit status.
   */
  async exec(shell: string, ms = 60_000): Promise<{ code: number; output: string }> {
    await this.until('qg_serve', () => this.serving, ms);
    const key = `exec-${++this.execs}`;
    const b64 = Buffer.from(shell).toString('base64').match(/.{1,76}/g) ?? [];
    this.proc.stdin!.write(`@@RUN ${key}\n${b64.join('\n')}${b64.length ? '\n' : ''}@@RUN-END\n`);
    return this.result(key, ms);
  }

  /** Ends qg_serve: the guest's script goes on (and powers off when it returns). */
  quit(): void {
    this.proc.stdin!.write('@@QUIT\n');
  }

  /** Waits until the guest powered off (or timeoutMs killed it). */
  finished(): Promise<GuestExit> {
    return this.exited;
  }

  /** Everything so far, as a record. */
  snapshot(exit: GuestExit): GuestRun {
    return { ...exit, results: { ...this.results }, codes: { ...this.codes }, marks: { ...this.marks }, output: this.console, channel: this.channel, qemuStderr: this.qemuStderr };
  }

  /** Kills qemu if it still runs (SIGTERM, then SIGKILL), and removes the boot's files. */
  async stop(): Promise<GuestRun> {
    if (this.running) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 3_000);
      await this.exited;
      clearTimeout(t);
    }
    const r = this.snapshot(await this.exited);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.pidFile.replace(/\.pid$/, '.dir'), { force: true });
    return r;
  }
}

/** Boots a guest, lets its script run to the end (poweroff) or to timeoutMs, and returns everything. */
export async function bootGuest(opts: GuestOptions): Promise<GuestRun> {
  const g = Guest.start(opts);
  await g.finished();
  return g.stop();
}

/** Whether PID runs: exists and is no zombie (a killed orphan stays one until PID 1 reaps it). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

/** Kills the guests an interrupted run left (by their pid files; only qemu started by this harness). */
export async function sweepGuests(prefix = 'qg-'): Promise<void> {
  if (!existsSync(RUN_DIR)) return;
  for (const f of readdirSync(RUN_DIR)) {
    if (!f.startsWith(prefix) || !f.endsWith('.pid')) continue;
    const file = join(RUN_DIR, f);
    const pid = Number(readFileSync(file, 'utf8').trim());
    const cmdline = alive(pid) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0') : [];
    if (cmdline[0]?.includes('qemu-system') && cmdline.includes(f.slice(0, -'.pid'.length))) {
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    }
    rmSync(file, { force: true });
  }
  // the boot directories of guests whose test process died
  for (const f of readdirSync(RUN_DIR)) {
    if (!f.startsWith(prefix) || !f.endsWith('.dir') || existsSync(join(RUN_DIR, f.replace(/\.dir$/, '.pid')))) continue;
    const dir = readFileSync(join(RUN_DIR, f), 'utf8').trim();
    if (dir.startsWith('/tmp/vmrouter-guest-')) rmSync(dir, { recursive: true, force: true });
    rmSync(join(RUN_DIR, f), { force: true });
  }
}

/** Whether qemu holds the TAP: a TAP has carrier (LOWER_UP) only while a process has it open. */
export async function tapCarrier(ns: string, tap: string): Promise<boolean> {
  const r = await run(['ip', '-n', ns, '-o', 'link', 'show', 'dev', tap], { ok: false });
  return r.code === 0 && !r.stdout.includes('NO-CARRIER') && r.stdout.includes('LOWER_UP');
}
