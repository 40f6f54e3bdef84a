#!/usr/bin/env node
// Routed networks over BGP (routing = bgp) at fleet scale: two VMC nodes, two routers, FRR in each
// configured only by `vmrouter frr`, N VMs split over the nodes.
//
//   sudo node bench/bgp.mjs [--vms 1,1000,4000] [--pings 50000] [--moves 5] [--runs 3]
//
// For each N:
//  - convergence: `vmrouter tap sync` of the VMs on both nodes (FRR running, sessions up), until both
//    routers hold all N host routes;
//  - move: one VM unbound on n1 and bound on n2 (tap down, tap up), until both routers route it via
//    n2 (median of --moves);
//  - forwarding (median of --runs): 50 000 `ping -f` round trips from the VM on n1 to the internet host through the
//    routers, whose replies r1 routes by the VM's /32 among N (ratio to N = 1: a trie lookup);
//  - failover: r1's port goes dark, until both nodes' VM default lists only r2; with BFD (3 × 100 ms,
//    vmrouter's default) side by side with the naive setup, BGP hold time alone (3 s, the minimum).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchOptions, BIN, dropNs, freshNs, inNs, median, sh, table, tmpfsRun } from './lib.mjs';

const { opt } = benchOptions('bench/bgp.mjs');
const PINGS = Number(opt('pings', '50000'));
const MOVES = Number(opt('moves', '5'));
const RUNS = Number(opt('runs', '3'));
const COUNTS = opt('vms', '1,1000,4000').split(',').map(Number);
const [SW, N1, N2, R1, R2, INET, VM] = ['bbg-sw', 'bbg-n1', 'bbg-n2', 'bbg-r1', 'bbg-r2', 'bbg-inet', 'bbg-vm'];
const NODES = { [N1]: '10.9.0.11', [N2]: '10.9.0.12' };
const ROUTERS = { [R1]: '10.9.0.1', [R2]: '10.9.0.2' };
const ip4 = (i) => `10.40.${(i + 2) >> 8}.${(i + 2) & 255}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** a node's or a router's section: only the role, its peers and its router id differ */
const conf = (ns, bfd) => {
  const node = ns in NODES;
  return `[network bench]
role = ${node ? 'vmc' : 'router'}
uplink = eth1
${node ? 'table = 400\n' : ''}subnet = 10.40.0.0/16
gateway = 10.40.0.1
routing = bgp
peers = ${Object.values(node ? ROUTERS : NODES).join(' ')}
router_id = ${{ ...NODES, ...ROUTERS }[ns]}
${bfd ? '' : 'bfd = no\nbgp_hold = 3\n'}`;
};
const confFile = (ns) => `/tmp/${ns}.conf`;
const frrDir = (ns) => `/tmp/${ns}-frr`;

function frrUid() {
  const line = sh(['getent', 'passwd', 'frr']).stdout.trim();
  const [, , uid, gid] = line.split(':');
  return [Number(uid), Number(gid)];
}

/** zebra, staticd, bfdd, bgpd of one namespace with the frr.conf `vmrouter frr` wrote */
function startFrr(ns) {
  const dir = frrDir(ns);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'run'), { recursive: true });
  const [uid, gid] = frrUid();
  sh(['chown', `${uid}:${gid}`, join(dir, 'run')]);
  sh([BIN, '--config', confFile(ns), 'frr', '--out', dir]);
  const run = join(dir, 'run');
  for (const d of ['zebra', 'staticd', 'bfdd', 'bgpd']) {
    inNs(ns, [`/usr/lib/frr/${d}`, '-d', '-N', ns, '-f', join(dir, 'frr.conf'), '-i', join(run, `${d}.pid`), '-z', join(run, 'zserv.api'), '--vty_socket', run, '-A', '127.0.0.1', ...(d === 'zebra' ? ['-s', '90000000'] : [])]);
  }
}

async function stopFrr(ns) {
  const pids = [];
  for (const d of ['bgpd', 'bfdd', 'staticd', 'zebra']) {
    const r = sh(['cat', join(frrDir(ns), 'run', `${d}.pid`)], { ok: false });
    if (r.status === 0) pids.push(r.stdout.trim());
  }
  if (pids.length) sh(['kill', ...pids], { ok: false });
  for (let i = 0; i < 200 && pids.some((p) => sh(['kill', '-0', p], { ok: false }).status === 0); i++) await sleep(50);
}

const bgpRoutes = (ns) => Number(inNs(ns, ['sh', '-c', 'ip -4 route show proto bgp | grep -c "^10\\.40\\." || true']).stdout.trim());
const established = (ns) => {
  const r = sh(['vtysh', '--vty_socket', join(frrDir(ns), 'run'), '-c', 'show bgp summary json'], { ok: false });
  if (r.status !== 0) return 0;
  const peers = JSON.parse(r.stdout).ipv4Unicast?.peers ?? {};
  return Object.values(peers).filter((p) => p.state === 'Established').length;
};
/** the nodes' VM default (table 400) through exactly these router addresses */
const defaultVia = (ns, via) => {
  const routes = JSON.parse(inNs(ns, ['ip', '-4', '-j', 'route', 'show', 'table', '400']).stdout || '[]');
  const d = routes.find((r) => r.dst === 'default' && r.protocol === 'static');
  const hops = d ? (d.nexthops ?? [d]).map((h) => h.gateway).sort().join() : '';
  return hops === [...via].sort().join();
};
const routedVia = (ns, address, via) => inNs(ns, ['ip', '-4', 'route', 'get', address], { ok: false }).stdout.includes(`via ${via} `);

async function until(check, ms, what) {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(5);
  }
  return performance.now() - t0;
}

function build(n) {
  for (const ns of [SW, N1, N2, R1, R2, INET, VM]) freshNs(ns);
  sh(['ip', '-n', SW, 'link', 'add', 'br0', 'type', 'bridge']);
  sh(['ip', '-n', SW, 'link', 'set', 'br0', 'up']);
  for (const [ns, address] of Object.entries({ ...NODES, ...ROUTERS })) {
    sh(['ip', '-n', ns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', `p-${ns}`, 'netns', SW]);
    sh(['ip', '-n', SW, 'link', 'set', `p-${ns}`, 'master', 'br0', 'up']);
    for (const a of [['link', 'set', 'eth1', 'up'], ['addr', 'add', `${address}/24`, 'dev', 'eth1']]) inNs(ns, ['ip', ...a]);
  }
  // the internet host on a second segment of both routers; it routes the VMs back through r1
  sh(['ip', '-n', INET, 'link', 'add', 'br0', 'type', 'bridge']);
  for (const [i, r] of [R1, R2].entries()) {
    sh(['ip', '-n', r, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `w-${r}`, 'netns', INET]);
    sh(['ip', '-n', INET, 'link', 'set', `w-${r}`, 'master', 'br0', 'up']);
    for (const a of [['link', 'set', 'eth0', 'up'], ['addr', 'add', `198.51.100.${i + 1}/24`, 'dev', 'eth0']]) inNs(r, ['ip', ...a]);
  }
  for (const a of [['link', 'set', 'br0', 'up'], ['addr', 'add', '198.51.100.100/24', 'dev', 'br0'], ['route', 'add', '10.40.0.0/16', 'via', '198.51.100.1']]) inNs(INET, ['ip', ...a]);
  // VM 0 is real (a namespace behind a veth on n1); the others are TAP devices
  sh(['ip', '-n', N1, 'link', 'add', 'tap0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', VM]);
  sh(['ip', '-n', N1, 'link', 'set', 'tap0', 'up']);
  for (const a of [['link', 'set', 'eth0', 'up'], ['addr', 'add', `${ip4(0)}/16`, 'dev', 'eth0'], ['route', 'add', 'default', 'via', '10.40.0.1']]) inNs(VM, ['ip', ...a]);
  const half = Math.ceil(n / 2);
  const taps = { [N1]: [], [N2]: [] };
  for (let i = 0; i < n; i++) taps[i < half ? N1 : N2].push(i);
  for (const [ns, list] of Object.entries(taps)) {
    const lines = list.filter((i) => i !== 0).flatMap((i) => [`tuntap add dev tap${i} mode tap`, `link set dev tap${i} up`]);
    lines.push('tuntap add dev mv mode tap', 'link set dev mv up'); // where a moving VM arrives
    sh(['ip', '-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });
    writeFileSync(`/tmp/${ns}.bindings`, list.map((i) => `tap${i} ${ip4(i)}`).join('\n') + '\n');
  }
  return taps;
}

async function configure(bfd) {
  for (const ns of [N1, N2, R1, R2]) writeFileSync(confFile(ns), conf(ns, bfd));
  for (const ns of [N1, N2, R1, R2]) startFrr(ns);
  await until(() => [N1, N2, R1, R2].every((ns) => established(ns) === 2), 30000, 'sessions established');
  await until(() => [N1, N2].every((ns) => defaultVia(ns, Object.values(ROUTERS))), 10000, 'defaults through both routers');
}

async function failover(node = N1) {
  sh(['ip', '-n', SW, 'link', 'set', `p-${R1}`, 'down']);
  const ms = await until(() => defaultVia(node, [ROUTERS[R2]]), 30000, 'failover');
  sh(['ip', '-n', SW, 'link', 'set', `p-${R1}`, 'up']);
  await until(() => defaultVia(node, Object.values(ROUTERS)), 60000, 'r1 back');
  return ms;
}

const restoreRun = tmpfsRun();
const rows = [['VMs', 'tap sync (both nodes)', 'converged at both routers', 'move p50', 'forwarding', 'vs 1 VM', 'failover BFD', 'hold time only', 'BFD faster']];
let base = null;
try {
  for (const n of COUNTS) {
    build(n);
    for (const ns of [N1, N2, R1, R2]) writeFileSync(confFile(ns), conf(ns, true));
    for (const ns of [N1, N2, R1, R2]) inNs(ns, [BIN, '--config', confFile(ns), 'up']);
    await configure(true);

    const t0 = performance.now();
    for (const ns of [N1, N2]) inNs(ns, [BIN, '--config', confFile(ns), 'tap', 'sync', '--network', 'bench', '--from', `/tmp/${ns}.bindings`]);
    const synced = performance.now() - t0;
    await until(() => bgpRoutes(R1) === n && bgpRoutes(R2) === n, 60000, `${n} routes at both routers`);
    const converged = performance.now() - t0;

    const moves = [];
    if (n >= 2) {
      const address = ip4(1);
      for (let m = 0; m < MOVES; m++) {
        const [from, to, fromTap, toTap] = m % 2 === 0 ? [N1, N2, 'tap1', 'mv'] : [N2, N1, 'mv', 'tap1'];
        const s = performance.now();
        inNs(from, [BIN, '--config', confFile(from), 'tap', 'down', '--tap', fromTap]);
        inNs(to, [BIN, '--config', confFile(to), 'tap', 'up', '--network', 'bench', '--tap', toTap, '--ip', address]);
        await until(() => routedVia(R1, address, NODES[to]) && routedVia(R2, address, NODES[to]), 10000, 'move');
        moves.push(performance.now() - s);
      }
    }

    inNs(VM, ['ping', '-c', '3', '-i', '0.2', '198.51.100.100']);
    await sleep(2000); // FRR and zebra idle again after the moves
    const runs = [];
    for (let r = 0; r < RUNS; r++) {
      const f0 = performance.now();
      inNs(VM, ['ping', '-f', '-q', '-c', String(PINGS), '198.51.100.100']);
      runs.push(performance.now() - f0);
    }
    const forwarding = median(runs);
    base ??= forwarding;

    const bfd = await failover();
    // the naive setup: the same sessions without BFD, at the shortest hold time BGP allows
    for (const ns of [N1, N2, R1, R2]) await stopFrr(ns);
    await configure(false);
    const hold = await failover();
    rows.push([n, `${synced.toFixed(0)} ms`, `${converged.toFixed(0)} ms`, moves.length ? `${median(moves).toFixed(0)} ms` : '-', `${forwarding.toFixed(0)} ms`, `${(forwarding / base).toFixed(2)}×`, `${bfd.toFixed(0)} ms`, `${hold.toFixed(0)} ms`, `${(hold / bfd).toFixed(1)}×`]);
    console.log(`N=${n}: done`);
    for (const ns of [N1, N2, R1, R2]) await stopFrr(ns);
  }
} finally {
  for (const ns of [N1, N2, R1, R2]) await stopFrr(ns);
  for (const ns of [SW, N1, N2, R1, R2, INET, VM]) dropNs(ns);
  restoreRun();
}
console.log(table(rows));
console.log(`forwarding: ${PINGS} ping -f round trips VM → internet host through the routers; failover: r1's port down until n1's VM default lists only r2`);
