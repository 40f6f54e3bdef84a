/**
 * The responder under hostile input (issue 4): from inside a bound and an unbound VM, well over
 * 100 000 malformed or truncated Router/Neighbour Solicitations, DHCPv6 and DHCPv4 frames (seeded:
 * the same frames on every run; built in test/lib/vm-frames.cjs), part of them while the daemon is
 * frozen so that its socket queue overflows. The daemon must survive with bounded memory, count what
 * it got, report the drops, keep answering, and never answer the unbound VM.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Lab, ifupdown } from '../lib/netns.js';
import { Capture, Daemon, fuzzFrom, sendFrames, waitFor, type Frame, type NdpStats } from '../lib/ndp.js';
import { inNs } from '../lib/run.js';
import { singleNode } from '../lib/single-node.js';
import { configureNode, linkLocalOf, macOf, vmcConf } from '../lib/topology.js';
import { vmrouter } from '../lib/vmrouter.js';

const PREFIX = 'vr4z-';
const DIR = '/tmp/vr4z';
const CONF = join(DIR, 'vmrouter.conf');
const lab = new Lab(PREFIX);
let daemon: Daemon | null = null;
let frozen = false;

/** what the daemon answers with: RA, NA, DHCPv6 from port 547, DHCPv4 from port 67 */
const ANSWERS = '(icmp6 and (ip6[40] == 134 or ip6[40] == 136)) or (udp and (src port 547 or src port 67))';
const BOUND_FRAMES = 60_000;
const UNBOUND_FRAMES = 50_000;
const FROZEN_FRAMES = 40_000;

t.teardown(async () => {
  if (daemon) {
    if (frozen) process.kill(daemon.pid, 'SIGCONT');
    await daemon.stop();
  }
  await lab.cleanup();
  rmSync(DIR, { recursive: true, force: true });
  rmSync(`/tmp/${PREFIX}node.conf`, { force: true });
});

const delivered = (s: NdpStats) => Object.values(s.received).reduce((a, b) => a + b, 0);

let node: string, bound: string, unbound: string, tap1LL: string;

t.before(async () => {
  await Lab.sweep(PREFIX);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const lab1 = await singleNode(lab, 'eth1', ['tap1', 'tap2']);
  node = lab1.node;
  [bound, unbound] = lab1.vms as [string, string];
  await configureNode(node, vmcConf('eth1'));
  await ifupdown(node, 'ifup', 'eth1');
  writeFileSync(CONF, `${vmcConf('eth1')}\n[ndp]\nnameservers = 2001:db8::53\ndomains = example.org\n\n[dhcp]\nnameservers = 192.0.2.53\n`);
  await vmrouter(['--config', CONF, 'tap', 'up', '--network', 'public', '--tap', 'tap1', '--mac', await macOf(bound, 'eth0'), '--ip', '192.0.2.11'], { ns: node });
  // quiet VMs: no SLAAC (its DAD and router NS would mix with the frames counted below)
  for (const vm of lab1.vms) await inNs(vm, ['sysctl', '-q', '-w', 'net.ipv6.conf.eth0.accept_ra=0']);
  for (const vm of lab1.vms) await inNs(vm, ['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  for (const vm of lab1.vms) await linkLocalOf(vm, 'eth0');
  tap1LL = await linkLocalOf(node, 'tap1');
  await linkLocalOf(node, 'tap2');
  daemon = await Daemon.start(node, CONF);
  const d = daemon;
  // the greeting RA on tap1 (once its link-local is usable) is out before anything else
  if (!(await waitFor(async () => ((await d.stats()).sent.ra ?? 0) >= 1, 5_000, 200))) throw new Error('the daemon does not serve tap1');
});

const delta = (a: NdpStats, b: NdpStats, k: string) => (b.received[k] ?? 0) - (a.received[k] ?? 0);

t.test('checksums of frames a VM sends are verified', async (t) => {
  const d = daemon!;
  const frames: Frame[] = [{ kind: 'rs' }, { kind: 'ns', target: '2001:db8::77' }, { kind: 'dhcp6', type: 11 }, { kind: 'dhcp4', type: 1 }];
  const cap = await Capture.start(bound, ANSWERS, { inbound: true });
  const s0 = await d.stats();
  await sendFrames(bound, frames.map((f) => ({ ...f, badChecksum: true })), { repeat: 3 });
  await new Promise((res) => setTimeout(res, 700));
  const s1 = await d.stats();
  t.equal(delta(s0, s1, 'malformed'), 12, 'the 12 frames with a bad ICMPv6/UDP checksum are malformed');
  t.same(['rs', 'ns', 'dhcp6', 'dhcp4'].map((k) => delta(s0, s1, k)), [0, 0, 0, 0], 'none was taken for a solicitation');
  t.same((await cap.stop()).map((p) => p.head), [], 'and none was answered');
  await sendFrames(bound, frames, { repeat: 3 });
  await new Promise((res) => setTimeout(res, 300));
  const s2 = await d.stats();
  t.same(['rs', 'ns', 'dhcp6', 'dhcp4'].map((k) => delta(s1, s2, k)), [3, 3, 3, 3], 'control: the same frames with good checksums are decoded');
  t.equal(delta(s1, s2, 'malformed'), 0, 'control: nothing malformed');
});

t.test('malformed floods from a bound and an unbound VM', async (t) => {
  const d = daemon!;
  const rssBefore = d.rssKb();
  const before = await d.stats();

  const quiet = await Capture.start(unbound, ANSWERS, { verbose: true, inbound: true });
  const control = await Capture.start(bound, ANSWERS, { inbound: true });
  const started = Date.now();
  const [fromBound, fromUnbound] = await Promise.all([fuzzFrom(bound, 1, BOUND_FRAMES), fuzzFrom(unbound, 2, UNBOUND_FRAMES)]);
  // frozen, the daemon reads nothing: its socket queue (8 MB) overflows and the kernel counts the drops
  process.kill(d.pid, 'SIGSTOP');
  frozen = true;
  const fromFrozen = await fuzzFrom(bound, 3, FROZEN_FRAMES);
  process.kill(d.pid, 'SIGCONT');
  frozen = false;
  const total = fromBound.total + fromUnbound.total + fromFrozen.total;
  t.ok(total >= 100_000, `${total} malformed frames sent in ${((Date.now() - started) / 1000).toFixed(1)} s (${JSON.stringify(fromBound.mutation)})`);

  // drained: everything the socket delivered has been counted
  let after = await d.stats();
  after = await waitFor(async () => {
    const s = await d.stats();
    return delivered(s) === s.socket.received - s.socket.dropped ? s : null;
  }, 20_000, 250) ?? after;
  t.ok(d.alive, 'the daemon is still running');
  const grew = d.rssKb() - rssBefore;
  t.ok(grew < 40 * 1024, `its RSS grew by ${(grew / 1024).toFixed(1)} MB (< 40 MB)`);

  const malformed = (after.received.malformed ?? 0) - (before.received.malformed ?? 0);
  const fromUnboundSeen = (after.received.unbound ?? 0) - (before.received.unbound ?? 0);
  t.ok(malformed >= BOUND_FRAMES / 2, `received.malformed: ${malformed} of the ${BOUND_FRAMES + FROZEN_FRAMES} frames from the bound VM`);
  t.ok(fromUnboundSeen >= UNBOUND_FRAMES / 2, `received.unbound: ${fromUnboundSeen} of the ${UNBOUND_FRAMES} frames from the unbound VM reached the daemon and were ignored`);
  t.ok(after.socket.dropped > 0, `socket drops are reported (${after.socket.dropped} while the daemon was frozen)`);
  t.equal(delivered(after), after.socket.received - after.socket.dropped, 'every frame the socket delivered is counted once (socket received − dropped = sum of received.*)');
  t.equal(after.errors, 0, 'no send or ledger errors');
  t.ok((after.processing.p99 ?? 0) < 50, `processing p99 ${after.processing.p99.toFixed(2)} ms`);

  // still answering a valid RS (rdisc6: the VM's own stack, from its link-local with SLLAO)
  const r = await inNs(bound, ['rdisc6', '-1', 'eth0'], { ok: false });
  t.equal(r.code, 0, 'a valid RS after the flood is answered');
  t.match(r.stdout, new RegExp(`Recursive DNS server\\s*:\\s*2001:db8::53[\\s\\S]*from ${tap1LL}`), 'with a full RA from tap1');

  await new Promise((res) => setTimeout(res, 600)); // a solicited RA waits up to 500 ms
  const answeredBound = await control.stop();
  t.ok(answeredBound.length > 0, `control: the same capture on the bound VM saw ${answeredBound.length} answers (to the frames that happened to be valid)`);
  const answeredUnbound = await quiet.stop();
  t.same(answeredUnbound.map((p) => p.text), [], 'the unbound VM received no answer at all');
});
