/**
 * Kernel notifications as a stream of "something changed": `ip monitor …` (netlink groups of
 * rules, routes, neighbours, links, addresses) and `nft monitor` (nftables' own events), each a
 * long-running child with the fixed PATH and locale of host.ts. What changed is not parsed: the
 * reconciler reads the kernel again anyway, and a notification only says when.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const CHILD_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export interface Watcher {
  stop(): void;
}

export function watch(file: 'ip' | 'nft', args: string[], onChange: () => void, log: (line: string) => void): Watcher {
  let child: ChildProcess | null = null;
  let stopped = false;
  const start = () => {
    child = spawn(file, args, { env: CHILD_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', onChange);
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
