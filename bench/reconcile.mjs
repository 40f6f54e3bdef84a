#!/usr/bin/env node
// The kernel is the truth, at scale: a node with N bound VMs (real TAPs), `vmrouter reconcile`
// running. Measures, side by side in one run:
//   - restore after `nft flush ruleset`: from the flush until the guard, the TAP marks and every
//     VM's source element are back (p50/p99 over --trials), against the naive recovery a node
//     without a reconciler gets — an operator re-running ifup and `tap sync` for everything;
//   - the reconciler's idle CPU over --idle seconds (its own process and its two monitors);
//   - `vmrouter doctor` on the node, and `tap up` of one more VM on a node carrying N, against
//     `tap up` on an empty node.
//
//   sudo node bench/reconcile.mjs [--vms 1000] [--trials 20] [--idle 60]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { BIN, ENV, dropNs, freshNs, inNs, ip4, ip6, makeTaps, median, NODE_CONF, percentile, sh, table, time, tmpfsRun, writeConf } from './lib.mjs';

if (process.getuid() !== 0) {
  console.error('bench/reconcile.mjs: run as root (it creates network namespaces)');
  process.exit(1);
}
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const N = Number(opt('vms', '1000'));
const TRIALS = Number(opt('trials', '20'));
const IDLE = Number(opt('idle', '60'));
const [NODE, GWNS, EMPTY] = ['brc-node', 'brc-gw', 'brc-empty'];
const mac = (i) => `52:54:00:41:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const unmountRun = tmpfsRun();
const conf = writeConf('/tmp/brc.conf', NODE_CONF);
const vr = (ns, a) => inNs(ns, [BIN, '--config', conf, ...a]);

function node(ns, vms) {
  freshNs(ns);
  sh(['ip', '-n', ns, 'link', 'add', 'dev', 'up0', 'type', 'veth', 'peer', 'name', 'gw0']);
  for (const d of ['up0', 'gw0']) sh(['ip', '-n', ns, 'link', 'set', 'dev', d, 'up']);
  makeTaps(ns, vms + 1);
  vr(ns, ['up']);
  if (vms > 0) {
    writeFileSync(`/tmp/${ns}.bindings`, Array.from({ length: vms }, (_, i) => `tap${i} ${mac(i)} ${ip4(i)} ${ip6(i)}`).join('\n') + '\n');
    vr(ns, ['tap', 'sync', '--network', 'bench', '--from', `/tmp/${ns}.bindings`]);
  }
}

/** every VM's IPv4 source element, the drop rule and the TAP marks are in the kernel */
function restored() {
  const r = inNs(NODE, ['nft', 'list', 'table', 'inet', 'vmrouter'], { ok: false });
  if (r.status !== 0) return false;
  const last = `"tap${N - 1}" . ${ip4(N - 1)}`;
  return r.stdout.includes('source address not bound to this TAP') && r.stdout.includes(last) && (r.stdout.match(/"tap\d+" \. \d+\.\d+\.\d+\.\d+/g) ?? []).length >= N;
}

function cpuTicks(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
    } catch {
      /* gone */
    }
  }
  return ticks;
}
const children = (pid) => sh(['sh', '-c', `cat /proc/${pid}/task/*/children 2>/dev/null`]).stdout.split(/\s+/).filter(Boolean).map(Number);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

node(NODE, N);
node(EMPTY, 0);
const results = {};
try {
  // doctor, and tap up on a loaded node vs an empty one
  const doctors = Array.from({ length: 5 }, () => time(() => vr(NODE, ['doctor'])));
  results.doctor = median(doctors);
  // the node's spare TAP: tapN on the loaded node, tap0 on the empty one
  const tapUp = (ns, i) => {
    const t = time(() => vr(ns, ['tap', 'up', '--network', 'bench', '--tap', `tap${i}`, '--mac', mac(N), '--ip', ip4(N), '--ip6', ip6(N)]));
    vr(ns, ['tap', 'down', '--tap', `tap${i}`]);
    return t;
  };
  results.tapUpLoaded = median(Array.from({ length: 9 }, () => tapUp(NODE, N)));
  results.tapUpEmpty = median(Array.from({ length: 9 }, () => tapUp(EMPTY, 0)));

  // the naive recovery: re-run ifup and tap sync for everything
  const naive = [];
  for (let k = 0; k < 3; k++) {
    inNs(NODE, ['nft', 'flush', 'ruleset']);
    naive.push(time(() => {
      vr(NODE, ['down']);
      vr(NODE, ['up']);
      vr(NODE, ['tap', 'sync', '--network', 'bench', '--from', `/tmp/${NODE}.bindings`]);
    }));
    if (!restored()) throw new Error('the naive recovery did not restore the guard');
  }
  results.naive = median(naive);

  const daemon = spawn('ip', ['netns', 'exec', NODE, BIN, '--config', conf, 'reconcile'], { stdio: ['ignore', 'ignore', 'pipe'], env: ENV });
  let log = '';
  daemon.stderr.setEncoding('utf8').on('data', (d) => (log += d));
  try {
    while (!log.includes('watching')) await sleep(50);
    await sleep(2000);
    const times = [];
    for (let k = 0; k < TRIALS; k++) {
      inNs(NODE, ['nft', 'flush', 'ruleset']);
      const t0 = performance.now();
      while (!restored()) {
        if (performance.now() - t0 > 30000) throw new Error(`not restored within 30 s:\n${log}`);
        await sleep(10);
      }
      times.push(performance.now() - t0);
      await sleep(1500); // let the reconciler settle before the next flush
    }
    results.p50 = percentile(times, 50);
    results.p99 = percentile(times, 99);
    results.max = Math.max(...times);
    // idle CPU: the daemon and its ip/nft monitors, nothing changing
    const pids = [daemon.pid, ...children(daemon.pid)];
    const all = () => [...new Set([...pids, ...pids.flatMap(children)])];
    const tick = Number(sh(['getconf', 'CLK_TCK']).stdout.trim());
    const c0 = cpuTicks(all());
    await sleep(IDLE * 1000);
    results.idleCpu = ((cpuTicks(all()) - c0) / tick / IDLE) * 100;
    results.repairsLogged = (log.match(/restored \d+ in/g) ?? []).length;
  } finally {
    daemon.kill();
  }
} finally {
  for (const ns of [NODE, EMPTY, GWNS]) dropNs(ns);
  unmountRun();
}

const f = (x) => x.toFixed(0);
console.log(`node with ${N} bound VMs (IPv4 + IPv6 each), vmrouter reconcile running`);
console.log(table([
  ['measure', 'value', 'naive / comparison', 'ratio'],
  [`restore after nft flush ruleset, p50 of ${TRIALS}`, `${f(results.p50)} ms`, `re-run ifup + tap sync by hand: ${f(results.naive)} ms`, `${(results.naive / results.p50).toFixed(1)}x faster`],
  [`restore after nft flush ruleset, p99 (max)`, `${f(results.p99)} ms (${f(results.max)})`, '', ''],
  [`reconciler idle CPU over ${IDLE} s`, `${results.idleCpu.toFixed(2)} % of one core`, '', ''],
  ['vmrouter doctor (median of 5)', `${f(results.doctor)} ms`, '', ''],
  [`tap up with ${N} VMs bound (median of 9)`, `${f(results.tapUpLoaded)} ms`, `on an empty node: ${f(results.tapUpEmpty)} ms`, `${(results.tapUpLoaded / results.tapUpEmpty).toFixed(2)}x`],
]));
console.log(`repairs logged by the reconciler: ${results.repairsLogged}`);
