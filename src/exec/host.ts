/**
 * The only code that touches the host: runs ip and nft, reads and writes /proc/sys, sends frames.
 * Commands are argv arrays (never a shell), with a fixed PATH and locale: hooks run as root with an
 * environment that ifupdown and hypervisors fill in, and error texts are matched in English.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { loadPacketAddon } from '../native/packet.js';

const CHILD_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs one command, feeding `input` on its standard input. Node's own child_process rather than
 * execa: a hook run spawns ip and nft once each, and loading execa's ~60 modules on first use cost
 * more than both commands (bench/natpair.mjs; about 40 ms per hook run on this project's machines).
 */
export function run(file: string, args: string[], input: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: CHILD_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // a command that cannot be started (ENOENT) is a failed command, reported like the others
    child.on('error', (e) => resolve({ exitCode: 127, stdout, stderr: `${file}: ${e.message}` }));
    child.on('close', (code, signal) => resolve({ exitCode: code ?? 128, stdout, stderr: signal ? `${stderr}${file} killed by ${signal}` : stderr }));
    child.stdin.on('error', () => undefined); // the command exited before reading it all: its status says why
    child.stdin.end(input);
  });
}

export type BatchResult = { ok: true } | { ok: false; index: number | null; message: string };

export interface Host {
  /** Runs lines through one `ip -batch -`; on failure says which line (0-based) failed and why. */
  ipBatch(family: 0 | 4 | 6, lines: string[][]): Promise<BatchResult>;
  /** Runs lines as one nft transaction (all or nothing). */
  nft(lines: string[]): Promise<BatchResult>;
  readSysctl(path: string): string;
  writeSysctl(path: string, value: string): void;
  readLink(dev: string, attribute: 'address' | 'ifindex' | 'flags'): string;
  /** link-local IPv6 addresses of a device */
  linkLocals(dev: string): string[];
  sendFrame(dev: string, frame: Buffer): void;
  /** Runs a listing (`ip -j …`, `nft -j list …`), `input` on standard input; its output, or an Error with its message. */
  query(file: 'ip' | 'nft' | 'vtysh', args: string[], input?: string): Promise<string>;
}

/** Characters iproute2's batch tokenizer or nft would read specially; planned argv never has them. */
const UNSAFE = /[\s"'#\\;{}$`]/;

export function assertSafeArgs(args: string[]): void {
  for (const a of args) if (a === '' || UNSAFE.test(a)) throw new Error(`refusing unsafe argument ${JSON.stringify(a)}`);
}

export class RealHost implements Host {
  async ipBatch(family: 0 | 4 | 6, lines: string[][]): Promise<BatchResult> {
    lines.forEach(assertSafeArgs);
    const argv = [...(family ? [`-${family}`] : []), '-batch', '-'];
    const r = await run('ip', argv, lines.map((l) => l.join(' ')).join('\n') + '\n');
    if (r.exitCode === 0) return { ok: true };
    const failed = /Command failed -:(\d+)/.exec(r.stderr);
    const message = r.stderr.replace(/Command failed -:\d+\s*/g, '').trim() || `ip exited with ${r.exitCode}`;
    return { ok: false, index: failed ? Number(failed[1]) - 1 : null, message };
  }

  async nft(lines: string[]): Promise<BatchResult> {
    const r = await run('nft', ['-f', '-'], lines.join('\n') + '\n');
    if (r.exitCode === 0) return { ok: true };
    const at = /\/dev\/stdin:(\d+):/.exec(r.stderr);
    const message = (r.stderr.split('\n').find((l) => l.includes('Error:')) ?? r.stderr).replace(/^.*?Error:\s*/, '').trim() || `nft exited with ${r.exitCode}`;
    return { ok: false, index: at ? Number(at[1]) - 1 : null, message };
  }

  readSysctl(path: string): string {
    return readFileSync(`/proc/sys/${path}`, 'utf8').trim();
  }

  writeSysctl(path: string, value: string): void {
    writeFileSync(`/proc/sys/${path}`, value);
  }

  readLink(dev: string, attribute: 'address' | 'ifindex' | 'flags'): string {
    assertSafeArgs([dev]);
    return readFileSync(`/sys/class/net/${dev}/${attribute}`, 'utf8').trim();
  }

  linkLocals(dev: string): string[] {
    const ifindex = Number(this.readLink(dev, 'ifindex'));
    // /proc/net/if_inet6: address (32 hex), ifindex, prefix length, scope, flags, name
    return readFileSync('/proc/net/if_inet6', 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 6 && parseInt(f[1]!, 16) === ifindex && f[3] === '20')
      .map((f) => f[0]!.match(/.{4}/g)!.join(':'));
  }

  async query(file: 'ip' | 'nft' | 'vtysh', args: string[], input = ''): Promise<string> {
    const r = await run(file, args, input);
    if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr.trim() || `exited with ${r.exitCode}`}`);
    return r.stdout;
  }

  private ifindexes = new Map<string, number>();

  sendFrame(dev: string, frame: Buffer): void {
    let ifindex = this.ifindexes.get(dev);
    if (ifindex === undefined) this.ifindexes.set(dev, (ifindex = Number(this.readLink(dev, 'ifindex'))));
    loadPacketAddon().send(ifindex, frame);
  }
}
