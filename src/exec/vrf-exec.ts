/**
 * `vmrouter vrf exec`: runs a command with its sockets in a VRF, through `ip vrf exec DEVICE`,
 * which attaches a cgroup BPF program that binds every new socket to the VRF device and then
 * execvp()s the command (https://docs.kernel.org/networking/vrf.html, "Applications").
 *
 * vmrouter cannot replace itself: Node 20 has no execve (process.execve came in 22.15/23.11). So it
 * spawns `ip vrf exec` with stdin/stdout/stderr inherited, forwards the signals a supervisor or a
 * shell sends to vmrouter (systemctl reload's SIGHUP reaches only the main PID), and ends the way the
 * command ended: the same exit status, or killed by the same signal.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { UsageError } from '../config/errors.js';
import { ifnameProblem } from '../model/names.js';

/** `ip` from the system directories, never from the caller's PATH (the command keeps that PATH). */
function ipBinary(): string {
  const found = ['/usr/sbin/ip', '/usr/bin/ip', '/sbin/ip', '/bin/ip'].find((p) => existsSync(p));
  if (!found) throw new Error('ip (iproute2) is not installed');
  return found;
}

const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/**
 * Runs `ip vrf exec DEVICE ...command` and resolves with its exit status. When the command dies of a
 * signal, vmrouter raises the same signal on itself (default action restored first), so its parent
 * sees the same death; 128+N only if that signal does not end Node (SIGPIPE, which Node ignores).
 */
export function execInVrf(device: string, command: string[]): Promise<number> {
  const problem = ifnameProblem(device);
  if (problem) throw new UsageError(`VRF device ${JSON.stringify(device)} ${problem}`);
  if (command.length === 0 || command[0] === '') throw new UsageError('vrf exec: missing command');
  if (command.some((a) => a.includes('\0'))) throw new UsageError('vrf exec: an argument contains a NUL byte');
  if (!existsSync(`/sys/class/net/${device}`)) throw new Error(`VRF device ${device} does not exist (none of its interfaces is up?)`);
  const child = spawn(ipBinary(), ['vrf', 'exec', device, ...command], { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  for (const s of FORWARDED) process.on(s, forward);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      for (const s of FORWARDED) process.off(s, forward);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      if (signal === null) return resolve(code ?? 1);
      process.kill(process.pid, signal);
      // still alive: a signal Node ignores or handles itself; the shell's convention then
      setTimeout(() => resolve(128 + (constants.signals[signal] ?? 0)), 100);
    });
  });
}
