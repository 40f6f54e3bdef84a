/**
 * The responder (`vmrouter ndp`) under test: started in a node namespace as a subprocess, its stats
 * read through SIGUSR1, stopped with SIGTERM; packet captures in VM namespaces (tcpdump with epoch
 * timestamps); raw frames sent from a VM (test/lib/vm-frames.cjs through the packet addon).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import ipaddr from 'ipaddr.js';
import { inNs } from './run.js';
import { BIN, ROOT } from './vmrouter.js';

export const ADDON = join(dirname(BIN), 'vmrouter_packet.node');
export const VM_FRAMES = join(ROOT, 'test', 'lib', 'vm-frames.cjs');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** NODE_EXTRA_CA_CERTS costs every node start time; the daemon does not need it. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export interface NdpStats {
  received: Record<string, number>;
  sent: Record<string, number>;
  errors: number;
  socket: { received: number; dropped: number };
  processing: { count: number; p50: number; p99: number; max: number };
  taps: number;
}

/** Polls `check` every `every` ms until it returns a truthy value or `ms` pass (then returns the last value). */
export async function waitFor<T>(check: () => Promise<T> | T, ms: number, every = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v || Date.now() >= end) return v;
    await sleep(every);
  }
}

export class Daemon {
  stderr = '';
  private exited: Promise<{ code: number | undefined; signal: string | undefined }>;
  private running = true;

  private constructor(
    readonly ns: string,
    readonly proc: ResultPromise,
  ) {
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += String(d)));
    this.exited = (async () => {
      const r = await proc;
      this.running = false;
      return { code: r.exitCode, signal: r.signal };
    })();
  }

  /** `ip netns exec NS vmrouter --config CONF ndp`, once it said it is listening. */
  static async start(ns: string, conf: string): Promise<Daemon> {
    // `ip netns exec` execs the command: the subprocess's pid is the daemon's
    const proc = execa('ip', ['netns', 'exec', ns, BIN, '--config', conf, 'ndp'], { reject: false, env: cleanEnv(), extendEnv: false, stdin: 'ignore', stdout: 'ignore' });
    const d = new Daemon(ns, proc);
    const ok = await waitFor(() => /listening/.test(d.stderr) || !d.running, 10_000, 20);
    if (!ok || !d.running) throw new Error(`vmrouter ndp did not start in ${ns}:\n${d.stderr}`);
    return d;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.running && existsSync(`/proc/${this.pid}`);
  }

  get statsFile(): string {
    return `/run/vmrouter/netns/${this.ns}/ndp-stats.json`;
  }

  /** SIGUSR1, then the file it writes. */
  async stats(): Promise<NdpStats> {
    const before = (this.stderr.match(/stats written/g) ?? []).length;
    this.proc.kill('SIGUSR1');
    const ok = await waitFor(() => (this.stderr.match(/stats written/g) ?? []).length > before, 10_000, 20);
    if (!ok) throw new Error(`no stats from the daemon in ${this.ns}:\n${this.stderr}`);
    return JSON.parse(readFileSync(this.statsFile, 'utf8')) as NdpStats;
  }

  /** VmRSS in kB (/proc/PID/status). */
  rssKb(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmRSS for ${this.pid}`);
    return Number(m[1]);
  }

  /** SIGTERM and its exit. */
  async stop(): Promise<{ code: number | undefined; signal: string | undefined }> {
    if (this.running) this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface Packet {
  /** seconds since the epoch (the kernel's receive timestamp) */
  time: number;
  /** the first line (addresses, protocol) */
  head: string;
  /** the whole text tcpdump printed for it */
  text: string;
}

/** tcpdump -tt output (first lines start with the epoch time, detail lines are indented) → packets. */
export function parsePackets(out: string): Packet[] {
  const packets: Packet[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\d+\.\d+) (.*)$/.exec(line);
    if (m) packets.push({ time: Number(m[1]), head: m[2]!, text: line });
    else if (packets.length && line.trim()) packets.at(-1)!.text += `\n${line}`;
  }
  return packets;
}

/** A tcpdump running in a namespace until stopped (or until `count` packets). */
export class Capture {
  out = '';
  err = '';
  private done: Promise<unknown>;

  private constructor(readonly proc: ResultPromise) {
    proc.stdout!.on('data', (d: Buffer) => (this.out += String(d)));
    proc.stderr!.on('data', (d: Buffer) => (this.err += String(d)));
    this.done = proc;
  }

  static async start(ns: string, filter: string, opts: { dev?: string; verbose?: boolean; count?: number; timeout?: number; inbound?: boolean } = {}): Promise<Capture> {
    const argv = ['tcpdump', '-l', '-tt', '-nn', ...(opts.verbose ? ['-vv'] : []), ...(opts.inbound ? ['-Q', 'in'] : []), '-i', opts.dev ?? 'eth0', ...(opts.count ? ['-c', String(opts.count)] : []), filter];
    const proc = execa('ip', ['netns', 'exec', ns, ...(opts.timeout ? ['timeout', String(opts.timeout)] : []), ...argv], { reject: false, env: cleanEnv(), extendEnv: false, stdin: 'ignore' });
    const c = new Capture(proc);
    const ok = await waitFor(() => /listening on/.test(c.err), 10_000, 20);
    if (!ok) throw new Error(`tcpdump did not start in ${ns}: ${c.err}`);
    return c;
  }

  get packets(): Packet[] {
    return parsePackets(this.out);
  }

  /** Waits up to `ms` for a packet `match` accepts. */
  async waitFor(match: (p: Packet) => boolean, ms: number): Promise<Packet | undefined> {
    return waitFor(() => this.packets.find(match), ms, 20);
  }

  /** Until it ends by itself (-c, timeout). */
  async finished(): Promise<Packet[]> {
    await this.done;
    return this.packets;
  }

  async stop(): Promise<Packet[]> {
    this.proc.kill('SIGINT');
    await this.done;
    return this.packets;
  }
}

export type Frame = (
  | { kind: 'rs'; src?: string; sllao?: boolean }
  | { kind: 'ns'; target: string; src?: string; dst?: string; sllao?: boolean }
  | { kind: 'dhcp6'; type: number; src?: string; txid?: number }
  | { kind: 'dhcp4'; type: number; xid?: number; requested?: string; server?: string; ciaddr?: string; broadcast?: boolean }
) & { badChecksum?: boolean };

/** Sends raw frames out of a VM's eth0 (as the VM). */
export async function sendFrames(vm: string, frames: Frame[], opts: { repeat?: number; gapMs?: number } = {}): Promise<void> {
  await inNs(vm, ['node', VM_FRAMES, JSON.stringify({ addon: ADDON, dev: 'eth0', frames, ...opts })], { env: cleanEnv(), extendEnv: false });
}

/** Sends `count` seeded malformed frames out of a VM's eth0; returns how many of each kind. */
export async function fuzzFrom(vm: string, seed: number, count: number): Promise<{ total: number; mutation: Record<string, number>; sendErrors: number }> {
  const r = await inNs(vm, ['node', VM_FRAMES, JSON.stringify({ addon: ADDON, dev: 'eth0', fuzz: { seed, count } })], { env: cleanEnv(), extendEnv: false });
  return JSON.parse(r.stdout);
}

/** The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A) in a /64 written "PREFIX::". */
export function eui64(prefix: string, mac: string): string {
  const b = mac.split(':').map((h) => parseInt(h, 16));
  const groups = [((b[0]! ^ 2) << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!];
  return ipaddr.IPv6.parse(`${prefix}${groups.map((g) => g.toString(16)).join(':')}`).toRFC5952String();
}

/** The pid in a pid file, if that process still runs. */
export function pidFromFile(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return pid > 0 && existsSync(`/proc/${pid}`) ? pid : null;
  } catch {
    return null;
  }
}

/** Stops a process this test started (by pid), waiting until it is gone. */
export async function stopPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitFor(() => !existsSync(`/proc/${pid}`), 5_000)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  await waitFor(() => !existsSync(`/proc/${pid}`), 5_000);
}
