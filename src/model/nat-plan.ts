/**
 * The address plan of a NAT pair (seed 002): unique addresses from a block of 198.18.0.0/15 (RFC 2544
 * benchmarking space, never routed on the Internet: RFC 6890 / IANA special-purpose registry), so
 * that overlapping customer networks and the management network can reach each other.
 *
 * Layout, as the seed computes it: the block is cut into /27s, one per interface of a node. A /27 has
 * 32 addresses; the network address, the gateway (.1) and the broadcast (.31) are not usable, which
 * leaves 29 (.2 – .30). The first of them (.2) is the interface's primary address, the other 28 its
 * secondaries, and every one of the 29 can carry one 1:1 entry.
 *
 * The lower half of the block belongs to the customer-facing node, the upper half to the
 * management-facing node; the k-th /27 of each half is "pair k" and is carried by the k-th transit
 * interface of each node. An entry owns one slot (pair, host): its customer-side address is host
 * `host` of the customer /27 k, its management-side address the same host of the management /27 k.
 * With 198.18.0.0/24 the first slot is 198.18.0.2 ↔ 198.18.0.130, the seed's figures.
 *
 * Pure: both nodes compute the same plan from the same section.
 */
import { contains, parsePrefix, type Prefix } from './addr.js';

export const SUBNET_LENGTH = 27;
const SUBNET_SIZE = 32;
/** .0 is the network, .1 the gateway: the first usable host is .2 */
const FIRST_HOST = 2;
/** .2 – .30 */
export const HOSTS_PER_SUBNET = SUBNET_SIZE - 3;
/** RFC 2544 / RFC 6890: the only space the plan may take unique addresses from */
export const BENCHMARK_SPACE = parsePrefix('198.18.0.0/15', 4) as Prefix;
/** the smallest block: one /27 for each node */
export const MAX_BLOCK_LENGTH = SUBNET_LENGTH - 1;

export type Side = 'customer' | 'management';

export interface Slot {
  pair: number;
  /** 0 – 28: the address is .(2 + host) of the pair's /27 */
  host: number;
}

// The plan is IPv4 arithmetic on a block that parsePrefix already validated: 32-bit integers, not
// ipaddr.js objects (a 4000-entry pair computes ~10 000 addresses on every ifup).
const toInt = (a: string): number => a.split('.').reduce((n, b) => n * 256 + Number(b), 0);
const fromInt = (n: number): string => `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/** Why a prefix cannot be a block, or null. */
export function blockProblem(block: Prefix): string | null {
  if (block.family !== 4 || !contains(BENCHMARK_SPACE, block.address) || block.length < BENCHMARK_SPACE.length) {
    return `is not inside ${BENCHMARK_SPACE.cidr}: unique addresses must come from the benchmarking block (RFC 2544, RFC 6890), which no customer or Internet network uses`;
  }
  if (block.length > MAX_BLOCK_LENGTH) return `is too small: a block needs at least a /${MAX_BLOCK_LENGTH} (one /${SUBNET_LENGTH} for each node of the pair)`;
  return null;
}

const half = (block: Prefix): number => 2 ** (32 - block.length) / 2;

/** How many /27 pairs the block holds (a /24: 4, a /22: 16). */
export const pairsInBlock = (block: Prefix): number => half(block) / SUBNET_SIZE;

/** First address of the /27 of one side for pair k, as an integer. */
function subnetBase(block: Prefix, side: Side, pair: number): number {
  return toInt(block.address) + (side === 'management' ? half(block) : 0) + pair * SUBNET_SIZE;
}

/** The /27 of one side for pair k. */
export function subnetOf(block: Prefix, side: Side, pair: number): Prefix {
  const address = fromInt(subnetBase(block, side, pair));
  return { family: 4, address, length: SUBNET_LENGTH, cidr: `${address}/${SUBNET_LENGTH}` };
}

/** The gateway of a /27 (its .1), through which each node reaches the other's /27. */
export const gatewayOf = (block: Prefix, side: Side, pair: number): string => fromInt(subnetBase(block, side, pair) + 1);

export function addressOf(block: Prefix, side: Side, slot: Slot): string {
  return fromInt(subnetBase(block, side, slot.pair) + FIRST_HOST + slot.host);
}

/** The slot an address of the block names (either side), or why it cannot name one. */
export function slotOf(block: Prefix, address: string): (Slot & { side: Side }) | { error: string } {
  if (!contains(block, address)) return { error: `is outside the block ${block.cidr}` };
  const offset = toInt(address) - toInt(block.address);
  const side: Side = offset < half(block) ? 'customer' : 'management';
  const within = offset % half(block);
  const pair = Math.floor(within / SUBNET_SIZE);
  const position = within % SUBNET_SIZE;
  const subnet = subnetOf(block, side, pair).cidr;
  if (position === 0) return { error: `is the network address of ${subnet}` };
  if (position === 1) return { error: `is the gateway of ${subnet}` };
  if (position === SUBNET_SIZE - 1) return { error: `is the broadcast address of ${subnet}` };
  return { side, pair, host: position - FIRST_HOST };
}

/** One entry to place: `pin` is an address of either side that fixes its slot. */
export interface Want {
  pin: string | null;
}

export type Placed = { slot: Slot } | { error: string; clash?: number };

/**
 * Places every entry: pinned ones on their slots, then the others in the order given (the caller
 * sorts them, so the result does not depend on the order of lines) on the lowest free slots, pair 0
 * first. `transits` is how many transit interfaces the node has: pair k needs the k-th.
 * Exhaustion is an error of each entry that does not fit, before anything is applied.
 */
export function allocate(block: Prefix, transits: number, wants: readonly Want[]): Placed[] {
  const pairs = Math.min(pairsInBlock(block), transits);
  const taken = new Map<number, number>();
  const key = (s: Slot) => s.pair * HOSTS_PER_SUBNET + s.host;
  const placed: Placed[] = wants.map(() => ({ error: 'not placed' }));
  wants.forEach((w, i) => {
    if (w.pin === null) return;
    const slot = slotOf(block, w.pin);
    if ('error' in slot) placed[i] = { error: `${w.pin} ${slot.error}` };
    else if (slot.pair >= pairs) {
      placed[i] = { error: `${w.pin} is in /${SUBNET_LENGTH} pair ${slot.pair} (${subnetOf(block, 'customer', slot.pair).cidr} ↔ ${subnetOf(block, 'management', slot.pair).cidr}), which needs transit interface ${slot.pair + 1}; ${pairNote(block, transits)}` };
    } else if (taken.has(key(slot))) placed[i] = { error: `${w.pin} names the slot already pinned`, clash: taken.get(key(slot))! };
    else {
      taken.set(key(slot), i);
      placed[i] = { slot: { pair: slot.pair, host: slot.host } };
    }
  });
  let next = 0;
  const capacity = pairs * HOSTS_PER_SUBNET;
  wants.forEach((w, i) => {
    if (w.pin !== null) return;
    while (next < capacity && taken.has(next)) next++;
    if (next >= capacity) {
      placed[i] = { error: `no unique address left: ${pairs} /${SUBNET_LENGTH} pair${pairs === 1 ? '' : 's'} × ${HOSTS_PER_SUBNET} addresses = ${capacity} entries are taken; ${pairNote(block, transits)}` };
      return;
    }
    taken.set(next, i);
    placed[i] = { slot: { pair: Math.floor(next / HOSTS_PER_SUBNET), host: next % HOSTS_PER_SUBNET } };
  });
  return placed;
}

function pairNote(block: Prefix, transits: number): string {
  const inBlock = pairsInBlock(block);
  return transits < inBlock
    ? `this node has ${transits} transit interface${transits === 1 ? '' : 's'} and ${block.cidr} has room for ${inBlock} (add transit interfaces)`
    : `${block.cidr} holds ${inBlock} /${SUBNET_LENGTH} pair${inBlock === 1 ? '' : 's'} (use a larger block)`;
}
