/**
 * Kernel notifications as a stream of "something changed": `ip monitor …` (netlink groups of
 * rules, routes, neighbours, links, addresses) and `nft monitor` (nftables' own events), each a
 * long-running child with the fixed PATH and locale of host.ts. What changed is not parsed beyond
 * "could it be vmrouter's" (the caller's `relevant`): the reconciler reads the kernel again anyway,
 * and a notification only says when.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const CHILD_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export interface Watcher {
  stop(): void;
}

export function watch(file: 'ip' | 'nft', args: string[], relevant: (line: string) => boolean, onChange: () => void, log: (line: string) => void): Watcher {
  let child: ChildProcess | null = null;
  let stopped = false;
  const start = () => {
    child = spawn(file, args, { env: CHILD_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let rest = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop()!;
      if (lines.some(relevant)) onChange();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => log(`${file} ${args[0]}: ${d.trim()}`));
    child.on('error', (e) => log(`${file} ${args.join(' ')}: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (stopped) return;
      log(`${file} ${args.join(' ')} exited (${signal ?? code}); started again in 1 s, the periodic check covers the gap`);
      setTimeout(start, 1000);
      onChange();
    });
  };
  start();
  return {
    stop: () => {
      stopped = true;
      child?.kill();
    },
  };
}

/**
 * `ip monitor label …` lines that may concern vmrouter's objects: its routes and rules carry proto
 * 86, proxy neighbours say "proxy"; links, addresses and netconf (forwarding, rp_filter, proxy_neigh)
 * change rarely and all count. Neighbour reachability and other tools' routes do not wake it.
 */
export function ipMonitorRelevant(line: string): boolean {
  const m = /^\[(\w+)\]/.exec(line);
  if (!m) return false;
  if (m[1] === 'ROUTE' || m[1] === 'RULE') return /\bproto 86\b/.test(line);
  if (m[1] === 'NEIGH') return /\bproxy\b/.test(line);
  return true;
}

/** `nft monitor` lines about vmrouter's tables (its own are named vmrouter…). */
export const nftMonitorRelevant = (line: string): boolean => !line.startsWith('#') && /\bvmrouter/.test(line);
