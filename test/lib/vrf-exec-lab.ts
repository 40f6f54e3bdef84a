/**
 * `vmrouter vrf exec` on a real kernel (called by vrf-lab.ts while [vrf blue] is up): a command run
 * through it reaches the blue host, which the node's main table cannot route to; the same command
 * without it fails; the command's exit status and the signal that killed it pass through. And on
 * a twin (twin-lab.ts), `vrf exec io/inner|outer` reaches the host .12 of that side only.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { execa } from 'execa';
import { echoesSeen } from './probe.js';
import { inNs } from './run.js';
import { BIN, ROOT, vmrouter } from './vmrouter.js';
import type { Check, TwinLab } from './twin-lab.js';

const PEER = join(ROOT, 'test/lib/tcp-peer.cjs');

/** `mid` is the node (config /tmp/MID.conf), `blue` the host 10.1.0.10 behind [vrf blue]. */
export async function runVrfExecChecks(check: Check, mid: string, blue: string): Promise<void> {
  const conf = `/tmp/${mid}.conf`;
  const inVrf = (name: string, argv: string[]) => vmrouter(['--config', conf, 'vrf', 'exec', name, '--', ...argv], { ns: mid, ok: false });
  const route = await inNs(mid, ['ip', 'route', 'get', '10.1.0.10'], { ok: false });
  check(route.code !== 0, 'vrf exec: the main table has no route to the blue host', route.stdout + route.stderr);
  const srv = spawn('ip', ['netns', 'exec', blue, process.execPath, PEER, 'serve', '8080'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((r) => srv.stdout!.once('data', r));
    const plain = await inNs(mid, [process.execPath, PEER, 'connect', '10.1.0.10', '8080', '4101', '10'], { ok: false });
    check(plain.code !== 0 && /ENETUNREACH|EHOSTUNREACH/.test(plain.stderr), 'vrf exec: without it, a TCP connect to the blue host fails (unreachable)', `${plain.code} ${plain.stdout}${plain.stderr}`);
    const via = await inVrf('blue', [process.execPath, PEER, 'connect', '10.1.0.10', '8080', '4102', '10']);
    check(via.code === 0 && via.stdout.trim() === '10.1.0.1 4102', 'vrf exec: through `vmrouter vrf exec blue` it connects; the host saw the node\'s blue address', `${via.code} ${via.stdout}${via.stderr}`);
  } finally {
    srv.kill();
  }
  const id = await inVrf('blue', ['ip', 'vrf', 'identify']);
  check(id.code === 0 && id.stdout.trim() === 'vrf-blue', 'vrf exec: the command runs in vrf-blue (ip vrf identify)', `${id.code} ${id.stdout}${id.stderr}`);
  const seven = await inVrf('blue', ['sh', '-c', 'exit 7']);
  check(seven.code === 7 && seven.stderr === '', 'vrf exec: the exit status passes through (sh -c "exit 7" → 7, nothing printed)', `${seven.code} ${seven.stderr}`);
  // ip netns exec execs vmrouter, so this is how vmrouter itself ended
  const killed = await execa('ip', ['netns', 'exec', mid, BIN, '--config', conf, 'vrf', 'exec', 'blue', '--', 'sh', '-c', 'kill -TERM $$'], { reject: false });
  check(killed.signal === 'SIGTERM', 'vrf exec: a command killed by SIGTERM leaves vmrouter killed by SIGTERM', `${killed.exitCode} ${killed.signal} ${killed.stderr}`);
  const unknown = await inVrf('green', ['true']);
  check(unknown.code === 2 && unknown.stderr.trim() === `vmrouter: ${conf}: no [vrf green] section (there are: blue, red)`, 'vrf exec: an unknown VRF is one line, exit 2', unknown.stderr);
}

/** `vrf exec io/SIDE -- ping 192.168.2.12`: only that side's .12 answers (both sides have a .12). */
export async function vrfExecSides(check: Check, mid: string, variant: 'vrf' | 'policy', l: Pick<TwinLab, 'inner' | 'outer'>): Promise<void> {
  for (const [side, here, there] of [['inner', l.inner, l.outer], ['outer', l.outer, l.inner]] as const) {
    const seen = () => Promise.all([here, there].map((h) => echoesSeen(h[12]!, '192.168.2.1', '192.168.2.12')));
    const [hereBefore, thereBefore] = await seen();
    const r = await vmrouter(['--config', `/tmp/${mid}.conf`, 'vrf', 'exec', `io/${side}`, '--', 'ping', '-n', '-q', '-c', '2', '-i', '0.2', '-W', '2', '192.168.2.12'], { ns: mid, ok: false });
    if (variant === 'policy') {
      check(r.code === 2 && /\[twin io\] runs the policy variant on this kernel/.test(r.stderr), `vrf exec io/${side}: the policy variant has no VRF, exit 2`, `${r.code} ${r.stderr}`);
      continue;
    }
    const [hereAfter, thereAfter] = await seen();
    check(r.code === 0 && hereAfter! - hereBefore! >= 2 && thereAfter === thereBefore, `vrf exec io/${side}: ping 192.168.2.12 reaches the ${side} host .12 only`, `${r.code} ${r.stdout}${r.stderr} here ${hereBefore}->${hereAfter} there ${thereBefore}->${thereAfter}`);
  }
}
