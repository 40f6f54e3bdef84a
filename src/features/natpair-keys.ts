/** The keys of [natpair NAME], declared once for the loader, the manuals and docs/configuration.md. */
import type { KeySpec } from '../config/schema.js';

export const NATPAIR_KEYS: readonly KeySpec[] = [
  { key: 'role', type: 'natpair-role', help: 'which node of the pair this is: customer (faces the customer networks) or management (faces the management servers); keep every other key the same on both nodes except transit and inside' },
  { key: 'block', type: 'prefix4', help: 'the pair\'s unique addresses: a block of 198.18.0.0/15, /26 or larger. Its lower half is cut into /27s for the customer node, its upper half for the management node (198.18.0.0/24: 198.18.0.0/27 and 198.18.0.128/27); each /27 has 29 usable addresses (.2 - .30; .1 is the gateway)' },
  { key: 'transit', type: 'ifname-list', help: 'this node\'s interfaces in the block: the k-th carries the k-th /27 of this node (its .2 as primary address, one secondary per entry) and reaches the other node\'s k-th /27 through the .1 gateway. Capacity: 29 entries per transit interface' },
  { key: 'inside', type: 'ifname', help: 'role management: the interface towards the management servers' },
  { key: 'inside_address', type: 'addr4-cidr', help: 'role management: the node\'s address on inside (e.g. 10.0.0.1/24), added by vmrouter; translated traffic reaches the management servers from it (MASQUERADE). Leave it out when something else gives inside its address' },
  { key: 'server', type: 'natpair-server', repeat: true, help: 'a management server of the pair: customers may reach it, and it may reach the customer VMs of the map (other hosts behind inside may not). Customers use its customer-side unique address (the first server gets the customer node\'s .2, as in the seed). "as UNIQUE" pins it to an address of either side of the block' },
  { key: 'map', type: 'natpair-map', repeat: true, help: 'a customer VM of the pair: the management servers may reach it, and it may reach them (other customer hosts may not): the customer interface it is behind (on the management node just a label), its address, the next hop when it is not on the link, and optionally "as UNIQUE" to pin its slot (either side\'s address). Management servers use its management-side address; two customers may use the same address' },
  { key: 'table', type: 'table', help: 'role customer: the first routing table; each customer interface (in name order) gets its own, table, table+1, …, chosen by a mark of the same number; the same number is also the interface\'s conntrack zone (so at most 65535), which keeps customers\' identical connections apart' },
  { key: 'priority', type: 'priority', default: '10000', help: 'preference of the `fwmark` rules of the customer tables' },
];
