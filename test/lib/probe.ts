/**
 * Evidence of who received what: a `probe` nft table in a namespace records, per (source, destination),
 * the ICMP echo requests arriving at that host before any other hook (priority -300), and the ARP
 * requests it hears (sender MAC, sender IP). Tests assert on these, not on ping's exit code alone.
 */
import type { Test } from 'tap';
import { inNs } from './run.js';
import { ping } from './topology.js';

const PROBE = `
table inet probe {
  set echo4 { type ipv4_addr . ipv4_addr; flags dynamic; size 65535; counter; }
  set echo6 { type ipv6_addr . ipv6_addr; flags dynamic; size 65535; counter; }
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    icmp type echo-request update @echo4 { ip saddr . ip daddr }
    icmpv6 type echo-request update @echo6 { ip6 saddr . ip6 daddr }
  }
}
table arp probe {
  set req { type ether_addr . ipv4_addr; flags dynamic; size 65535; counter; }
  chain in {
    type filter hook input priority -300; policy accept;
    arp operation request update @req { arp saddr ether . arp saddr ip }
  }
}
`;

export async function installProbe(ns: string): Promise<void> {
  await inNs(ns, ['nft', '-f', '-'], { input: PROBE });
}

export async function removeProbe(ns: string): Promise<void> {
  await inNs(ns, ['nft', 'delete', 'table', 'inet', 'probe'], { ok: false });
  await inNs(ns, ['nft', 'delete', 'table', 'arp', 'probe'], { ok: false });
}

interface Elem {
  elem: { val: { concat: string[] }; counter: { packets: number } };
}

async function entries(ns: string, family: string, set: string): Promise<Map<string, number>> {
  const { stdout } = await inNs(ns, ['nft', '-j', 'list', 'set', family, 'probe', set]);
  const json = JSON.parse(stdout) as { nftables: { set?: { elem?: Elem[] } }[] };
  const map = new Map<string, number>();
  for (const item of json.nftables) for (const e of item.set?.elem ?? []) map.set(e.elem.val.concat.join(' > '), e.elem.counter.packets);
  return map;
}

/** Echo requests that reached `ns` from `src` to `dst`. */
export async function echoesSeen(ns: string, src: string, dst: string): Promise<number> {
  const set = src.includes(':') ? 'echo6' : 'echo4';
  return (await entries(ns, 'inet', set)).get(`${src} > ${dst}`) ?? 0;
}

/** ARP requests heard in `ns`: "mac > ip" → count. */
export async function arpRequestsHeard(ns: string): Promise<Map<string, number>> {
  return entries(ns, 'arp', 'req');
}

/** Pings `dst` from `from` (from source `src` when given) and asserts the echo requests arrived at `at` from `expectSrc`. */
export async function reaches(t: Test, what: string, from: string, dst: string, at: string, expectSrc: string, src?: string): Promise<void> {
  const before = await echoesSeen(at, expectSrc, dst);
  t.ok(await ping(from, dst, src ? ['-I', src] : []), `${what}: answered`);
  t.ok((await echoesSeen(at, expectSrc, dst)) - before >= 2, `${what}: ${at} received the echo requests from ${expectSrc}`);
}
