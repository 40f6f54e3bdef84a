/**
 * 1:1 NAT pairs (seed 002): a customer-facing node and a management-facing node join customer
 * networks whose addresses overlap each other and the management network. Every entry of the map
 * owns one slot of the address plan (model/nat-plan.ts): a unique address on each node.
 *
 *  management server S, slot (UC, UM):  customer → UC ─DNAT→ UM (customer node), UM ─DNAT→ S (management node)
 *  customer VM V on IFACE, slot (UC, UM): management → UM ─DNAT→ UC (management node), UC ─DNAT→ V out IFACE (customer node)
 *
 * Leaving a transit interface, translated traffic is masqueraded (the seed's `-o ens3 -j MASQUERADE`);
 * leaving towards the customers it takes the customer node's first address (what customers already
 * use for the first server); leaving towards the management servers it is masqueraded to the
 * management node's address on `inside`.
 *
 * Customers may use the same addresses as each other: the customer node routes to them through one
 * table per customer interface, chosen by a mark kept in the connection (ct mark), never by the
 * destination alone, and keeps their connections apart with one conntrack zone per customer
 * interface (two customers' 10.0.0.100:123 → 198.18.0.2:5123 are two connections, not one). Everything lives in one nft table per pair, `ip vmrouter-natpair-NAME`, whose
 * chains are fixed and whose per-entry state is map elements (a few hash lookups per packet however
 * many entries: docs/design.md, "Data path"). Persistence is the interfaces(5) stanzas vmrouter generate
 * writes, not iptables-save files.
 */
import type { Step } from '../plan/step.js';
import { ip, nft, RT_PROTO, sysctl, type NftStep } from '../plan/step.js';
import { parsePrefix, type Prefix } from '../model/addr.js';
import { addressOf, gatewayOf, HOSTS_PER_SUBNET, subnetOf, SUBNET_LENGTH, type Side } from '../model/nat-plan.js';
import { verifyNatPairs, type NatPairRecord } from '../model/natpair.js';
import type { Attachment, Feature } from './feature.js';
import { element, quoteIfname } from './nft-skeleton.js';
import { NATPAIR_KEYS } from './natpair-keys.js';

export const natpairTable = (r: Pick<NatPairRecord, 'name'>): string => `ip vmrouter-natpair-${r.name}`;

const sideOf = (r: NatPairRecord): Side => (r.role === 'customer' ? 'customer' : 'management');
const blockOf = (r: NatPairRecord): Prefix => parsePrefix(r.block, 4) as Prefix;
/** The other node's half of the block: the sources of translated traffic arriving on a transit interface. */
function peerHalf(r: NatPairRecord): string {
  const block = blockOf(r);
  return `${subnetOf(block, r.role === 'customer' ? 'management' : 'customer', 0).address}/${block.length + 1}`;
}

/** The address customers see the management side as, and the source of management traffic to them. */
export const customerFace = (r: NatPairRecord): string => addressOf(blockOf(r), 'customer', { pair: 0, host: 0 });

/**
 * The pair's table. `inside` holds the customer interfaces (customer node) or the interface towards
 * the management servers (management node); `transit` the interfaces in the block.
 * from_inside / from_transit: unique address → where the connection goes, by the interface it came in.
 */
export function natpairTableStep(r: NatPairRecord): NftStep {
  const t = natpairTable(r);
  const add = [
    `add table ${t}`,
    `add set ${t} transit { type ifname; comment "interfaces in the block ${r.block}"; }`,
    `add set ${t} inside { type ifname; comment "${r.role === 'customer' ? 'customer interfaces' : 'interface towards the management servers'}"; }`,
    `add map ${t} from_inside { type ipv4_addr : ipv4_addr; comment "unique address -> ${r.role === 'customer' ? 'the server\'s address on the management node' : 'the VM\'s address on the customer node'}"; }`,
    `add map ${t} from_transit { type ipv4_addr : ipv4_addr; comment "unique address -> ${r.role === 'customer' ? 'customer VM' : 'management server'}"; }`,
    `add set ${t} entries { type ipv4_addr; comment "unique addresses translated when they arrive on a transit interface"; }`,
    `add set ${t} sources { type ifname . ipv4_addr; comment "${r.role === 'customer' ? 'customer VMs of the map' : 'management servers'}: who may use the pair from inside"; }`,
  ];
  if (r.role === 'customer') {
    // Two customers may send the very same tuple (10.0.0.100:123 → 198.18.0.2:5123): one
    // conntrack zone per customer interface makes them two connections. Priority raw (-300), before
    // conntrack (-200), so the entry is created in the zone. zone-orig only: the replies come back
    // on a transit interface, which has no zone, and find their entry in the default reply zone
    // (nf_conntrack_core.c resolve_normal_ct looks up both directions' zone ids).
    add.push(
      `add map ${t} inside_zone { typeof iifname : ct zone; comment "customer interface -> conntrack zone of its connections"; }`,
      `add chain ${t} zone_in { type filter hook prerouting priority raw; policy accept; }`,
      `flush chain ${t} zone_in`,
      `add rule ${t} zone_in iifname @inside ct original zone set iifname map @inside_zone`,
    );
    // Routing by destination cannot tell two customers' 10.0.0.100 apart: the connection remembers
    // its customer interface in ct mark, and its packets towards the customer carry it as the
    // packet mark that `ip rule fwmark` turns into the customer's table. Packets *from* a customer
    // carry it too, so that the reverse-path check (src_valid_mark) finds their source in their
    // customer's table, whatever rp_filter the node uses. Priority mangle (-150): after conntrack
    // (-200), before DNAT (-100) and the routing decision.
    add.push(
      `add map ${t} inside_mark { type ifname : mark; comment "customer interface -> mark of its table"; }`,
      `add map ${t} vm_mark { type ipv4_addr : mark; comment "unique address of a VM -> mark of its customer's table"; }`,
      `add set ${t} marks { type mark; comment "marks of the customer tables"; }`,
      `add chain ${t} mark_in { type filter hook prerouting priority mangle; policy accept; }`,
      `flush chain ${t} mark_in`,
      `add rule ${t} mark_in iifname @inside meta mark set iifname map @inside_mark`,
      `add rule ${t} mark_in iifname @inside ct state new ct mark set iifname map @inside_mark`,
      `add rule ${t} mark_in iifname @transit ct state new ct mark set ip daddr map @vm_mark`,
      `add rule ${t} mark_in iifname @transit ct mark @marks meta mark set ct mark`,
    );
  }
  add.push(
    `add chain ${t} nat_in { type nat hook prerouting priority dstnat; policy accept; }`,
    `flush chain ${t} nat_in`,
    // the map is also the list of who may use the pair, as the seed's per-source DNAT rules (-s VM)
    `add rule ${t} nat_in iifname . ip saddr @sources dnat to ip daddr map @from_inside`,
    // on a transit interface only the other node of the pair (it masquerades to its /27s)
    `add rule ${t} nat_in iifname @transit ip saddr ${peerHalf(r)} dnat to ip daddr map @from_transit`,
    // The node owns the unique addresses (so that it receives their traffic): whatever from inside
    // was not translated must not reach the node itself, or a ping "succeeds" with the NAT node answering.
    `add chain ${t} guard_in { type filter hook input priority filter; policy accept; }`,
    `flush chain ${t} guard_in`,
    `add rule ${t} guard_in iifname @inside ip daddr ${r.block} counter drop comment "vmrouter: not in the map of natpair ${r.name}"`,
    // an entry whose far side is down (its customer interface, inside) is unreachable, not the node
    `add rule ${t} guard_in iifname @transit ip daddr @entries counter drop comment "vmrouter: entry of natpair ${r.name} without its path"`,
    `add chain ${t} nat_out { type nat hook postrouting priority srcnat; policy accept; }`,
    `flush chain ${t} nat_out`,
    // only connections this table translated: nothing else leaving these interfaces changes source
    `add rule ${t} nat_out oifname @transit ct status dnat counter masquerade`,
    r.role === 'customer' ? `add rule ${t} nat_out oifname @inside ct status dnat counter snat to ${customerFace(r)}` : `add rule ${t} nat_out oifname @inside ct status dnat counter masquerade`,
  );
  return nft(add, [`delete table ${t}`], `natpair ${r.name}: DNAT by unique address, masquerade on egress`, { shared: true, provides: t });
}

export const natpairArpTable = (r: Pick<NatPairRecord, 'name'>): string => `arp vmrouter-natpair-${r.name}`;

/**
 * ARP from a customer link is checked against the reverse path too: arp_process routes the target
 * with the sender as source and the skb's mark (net/ipv4/arp.c). Marking it for the customer's
 * table lets a strict or loose rp_filter find the sender there (a VM, or the router of `via`).
 */
function natpairArpStep(r: NatPairRecord): NftStep {
  const t = natpairArpTable(r);
  return nft(
    [
      `add table ${t}`,
      `add map ${t} inside_mark { type ifname : mark; comment "customer interface -> mark of its table"; }`,
      `add chain ${t} mark_in { type filter hook input priority filter; policy accept; }`,
      `flush chain ${t} mark_in`,
      `add rule ${t} mark_in meta mark set iifname map @inside_mark`,
    ],
    [`delete table ${t}`],
    `natpair ${r.name}: ARP from a customer link is checked in its customer's table`,
    { shared: true, provides: t },
  );
}

/** IPv4 forwarding is decided by the interface a packet comes in on (conf/IFACE/forwarding), not node-wide. */
const forwarding = (dev: string) => sysctl(`net/ipv4/conf/${dev}/forwarding`, '1', '0', `forward translated traffic arriving on ${dev}`);

function transitAttachment(r: NatPairRecord, k: number): Attachment {
  const dev = r.transit[k]!;
  const block = blockOf(r);
  const side = sideOf(r);
  const peer = subnetOf(block, side === 'customer' ? 'management' : 'customer', k).cidr;
  const t = natpairTable(r);
  const used = r.entries.filter((e) => e.pair === k);
  const primary = addressOf(block, side, { pair: k, host: 0 });
  const unique = used.map((e) => (side === 'customer' ? e.customer : e.management)).sort((a, b) => Number(a.split('.')[3]) - Number(b.split('.')[3]));
  const hosts = [...new Set([primary, ...unique])];
  const steps: Step[] = [natpairTableStep(r), forwarding(dev)];
  // the first address becomes the primary (the masquerade source); the others are its secondaries
  for (const a of hosts) {
    const cidr = `${a}/${SUBNET_LENGTH}`;
    steps.push(ip(4, ['addr', 'add', cidr, 'dev', dev], ['addr', 'del', cidr, 'dev', dev], a === hosts[0] ? `primary address of ${subnetOf(block, side, k).cidr}` : `unique address ${a}`));
  }
  const via = gatewayOf(block, side, k);
  const route = [peer, 'via', via, 'dev', dev, 'proto', RT_PROTO];
  steps.push(ip(4, ['route', 'add', ...route], ['route', 'del', ...route], `the other node's /${SUBNET_LENGTH} of pair ${k} lies behind the gateway`));
  for (const e of used) {
    if (r.role === 'customer' && e.kind === 'vm') steps.push(element(t, 'entries', e.customer, null, `${e.customer} is ${e.iface} ${e.address}, never this node`));
    if (r.role === 'management' && e.kind === 'server') steps.push(element(t, 'entries', e.management, null, `${e.management} is server ${e.address}, never this node`));
    if (r.role === 'customer' && e.kind === 'server') steps.push(element(t, 'from_inside', e.customer, e.management, `customers reach server ${e.address} at ${e.customer}`));
    if (r.role === 'management' && e.kind === 'vm') steps.push(element(t, 'from_inside', e.management, e.customer, `management reaches ${e.iface} ${e.address} at ${e.management}`));
  }
  steps.push(element(t, 'transit', quoteIfname(dev), null, `${dev} is a transit interface`));
  const count = used.length;
  return { iface: dev, summary: `transit, ${subnetOf(block, side, k).cidr} (${count} of ${HOSTS_PER_SUBNET} addresses mapped)`, steps };
}

function customerAttachment(r: NatPairRecord, c: NatPairRecord['customers'][number]): Attachment {
  const t = natpairTable(r);
  const dev = c.iface;
  const vms = r.entries.filter((e) => e.iface === dev);
  const steps: Step[] = [
    natpairTableStep(r),
    natpairArpStep(r),
    forwarding(dev),
    // Customers' addresses overlap each other, so no reverse route for them can be in the main
    // table. Their packets (and ARP) carry their customer's mark, and with src_valid_mark the
    // reverse-path check (RFC 3704, strict or loose) looks the source up with it: in the
    // customer's table, where the VM's /32 points back out of this interface. So rp_filter may be
    // anything on this node (Documentation/networking/ip-sysctl.rst src_valid_mark, rp_filter).
    sysctl(`net/ipv4/conf/${dev}/src_valid_mark`, '1', '0', `reverse-path checks on ${dev} look sources up in table ${c.table}`),
  ];
  const rule = ['pref', String(r.priority), 'fwmark', String(c.mark), 'lookup', String(c.table), 'proto', RT_PROTO];
  steps.push(ip(4, ['rule', 'add', ...rule], ['rule', 'del', ...rule], `traffic towards customer ${dev} (ct mark) uses table ${c.table}`));
  // A router in front of VMs is a neighbour on the link: its own /32, so that its ARP passes the
  // reverse-path check and the VMs' routes through it are valid on an interface without address.
  for (const gw of [...new Set(vms.flatMap((v) => (v.via ? [v.via] : [])))]) {
    const route = [`${gw}/32`, 'dev', dev, 'table', String(c.table), 'proto', RT_PROTO];
    steps.push(ip(4, ['route', 'add', ...route], ['route', 'del', ...route], `${gw}, the router in front of VMs of customer ${dev}, is on the link`));
  }
  for (const v of vms) {
    // onlink: the customer interface has no address, so the kernel would otherwise find no
    // connected route for the gateway ("Nexthop has invalid gateway")
    const route = [`${v.address}/32`, ...(v.via ? ['via', v.via] : []), 'dev', dev, ...(v.via ? ['onlink'] : []), 'table', String(c.table), 'proto', RT_PROTO];
    steps.push(ip(4, ['route', 'add', ...route], ['route', 'del', ...route], `${v.address} of customer ${dev}${v.via ? ` behind ${v.via}` : ''}`));
  }
  for (const v of vms) {
    steps.push(element(t, 'from_transit', v.customer, v.address, `${v.customer} leads to ${v.address} on ${dev}`));
    steps.push(element(t, 'vm_mark', v.customer, String(c.mark), `connections to ${v.customer} use table ${c.table}`));
  }
  for (const v of vms) steps.push(element(t, 'sources', `${quoteIfname(dev)} . ${v.address}`, null, `${v.address} behind ${dev} may reach the management servers`));
  steps.push(element(t, 'marks', String(c.mark), null, `mark ${c.mark} is a customer table`));
  steps.push(element(t, 'inside_mark', quoteIfname(dev), String(c.mark), `connections from ${dev} answer through table ${c.table}`));
  steps.push(element(t, 'inside_zone', quoteIfname(dev), String(c.zone), `connections from ${dev} live in conntrack zone ${c.zone}`));
  steps.push(element(natpairArpTable(r), 'inside_mark', quoteIfname(dev), String(c.mark), `ARP from ${dev} is checked in table ${c.table}`));
  steps.push(element(t, 'inside', quoteIfname(dev), null, `${dev} is a customer interface`));
  return { iface: dev, summary: `customer interface, table ${c.table}, conntrack zone ${c.zone}, ${vms.length} VM${vms.length === 1 ? '' : 's'}`, steps };
}

function insideAttachment(r: NatPairRecord, dev: string): Attachment {
  const t = natpairTable(r);
  const servers = r.entries.filter((e) => e.kind === 'server');
  const steps: Step[] = [natpairTableStep(r), forwarding(dev)];
  if (r.insideAddress) steps.push(ip(4, ['addr', 'add', r.insideAddress, 'dev', dev], ['addr', 'del', r.insideAddress, 'dev', dev], 'the node\'s address towards the management servers: the source they see (MASQUERADE)'));
  for (const s of servers) steps.push(element(t, 'from_transit', s.management, s.address, `${s.management} leads to server ${s.address}`));
  for (const s of servers) steps.push(element(t, 'sources', `${quoteIfname(dev)} . ${s.address}`, null, `server ${s.address} may reach the customer VMs`));
  steps.push(element(t, 'inside', quoteIfname(dev), null, `${dev} faces the management servers`));
  return { iface: dev, summary: `towards the management servers (${servers.length} reachable from customers)`, steps };
}

export function attachNatPair(r: NatPairRecord): Attachment[] {
  const transits = r.transit.map((_, k) => transitAttachment(r, k));
  const inside = r.role === 'customer' ? r.customers.map((c) => customerAttachment(r, c)) : r.inside ? [insideAttachment(r, r.inside)] : [];
  return [...transits, ...inside];
}

/** Automatic entries move when lines are added before them in sorted order: say where each landed, to pin. */
export function lintNatPairs(records: readonly NatPairRecord[]): string[] {
  const warnings: string[] = [];
  for (const r of records) {
    const loose = r.entries.filter((e) => !e.pinned);
    for (const e of loose) {
      const line = e.kind === 'server' ? `server = ${e.address} as ${e.customer}` : `map = ${e.iface} ${e.address}${e.via ? ` via ${e.via}` : ''} as ${e.management}`;
      warnings.push(`${e.at}: [natpair ${r.name}] ${e.kind === 'server' ? 'server' : 'map'}: ${e.address}${e.iface ? ` on ${e.iface}` : ''} got ${e.customer} ↔ ${e.management} automatically; adding entries may move it — pin it with "${line}"`);
    }
  }
  return warnings;
}

export const natpairFeature: Feature<NatPairRecord> = {
  kind: 'natpair',
  summary: 'A node of a 1:1 NAT pair (seed 002): customer networks with overlapping addresses and a management network reach each other through unique addresses from a block of 198.18.0.0/15.',
  keys: NATPAIR_KEYS,
  ruleUsers: (r) => r.customers.map((c) => ({ who: `[natpair ${r.name}] ${c.iface}`, tables: [c.table], rules: [{ pref: r.priority, mark: true }], vrf: false })),
  verify: verifyNatPairs,
  attach: attachNatPair,
  lint: lintNatPairs,
};
