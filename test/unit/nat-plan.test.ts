/** The NAT-pair address plan (model/nat-plan.ts): the seed's arithmetic, determinism, pins and exhaustion. */
import t from 'tap';
import { parsePrefix, type Prefix } from '../../src/model/addr.js';
import { addressOf, allocate, blockProblem, gatewayOf, HOSTS_PER_SUBNET, pairsInBlock, slotOf, subnetOf, type Placed } from '../../src/model/nat-plan.js';

const P = (cidr: string) => parsePrefix(cidr, 4) as Prefix;
const B24 = P('198.18.0.0/24');
const slots = (placed: Placed[]) => placed.map((p) => ('slot' in p ? `${p.slot.pair}/${p.slot.host}` : p.error));

t.test('the seed\'s arithmetic', async (t) => {
  t.equal(HOSTS_PER_SUBNET, 29, 'a /27 has 32 addresses; network, gateway and broadcast leave 29 (28 secondaries + the primary)');
  t.equal(pairsInBlock(P('198.18.0.0/22')), 16, 'a /22 holds 32 /27s: 16 per node');
  t.equal(pairsInBlock(B24), 4);
  t.equal(pairsInBlock(P('198.18.0.0/26')), 1, 'the smallest block: one /27 per node');
  t.equal(subnetOf(B24, 'customer', 0).cidr, '198.18.0.0/27', 'NAT VM1\'s subnet');
  t.equal(subnetOf(B24, 'management', 0).cidr, '198.18.0.128/27', 'NAT VM2\'s subnet');
  t.equal(gatewayOf(B24, 'customer', 0), '198.18.0.1');
  t.equal(gatewayOf(B24, 'management', 0), '198.18.0.129');
  t.equal(addressOf(B24, 'customer', { pair: 0, host: 0 }), '198.18.0.2', 'the seed\'s NAT VM1 primary');
  t.equal(addressOf(B24, 'management', { pair: 0, host: 0 }), '198.18.0.130', 'the seed\'s NAT VM2 primary');
  t.equal(addressOf(B24, 'management', { pair: 0, host: 1 }), '198.18.0.131', 'the seed\'s first secondary on NAT VM2');
  t.equal(addressOf(B24, 'customer', { pair: 0, host: 28 }), '198.18.0.30', 'the last usable address of the /27');
  t.equal(addressOf(B24, 'customer', { pair: 1, host: 0 }), '198.18.0.34', 'the seed\'s second vnic of NAT VM1');
  t.equal(addressOf(P('198.18.4.0/22'), 'management', { pair: 15, host: 28 }), '198.18.7.254', 'the last slot of a /22');
});

t.test('an address names a slot, or says why it cannot', async (t) => {
  t.same(slotOf(B24, '198.18.0.131'), { side: 'management', pair: 0, host: 1 });
  t.same(slotOf(B24, '198.18.0.3'), { side: 'customer', pair: 0, host: 1 }, 'both sides of a slot name it');
  t.same(slotOf(B24, '198.18.0.0'), { error: 'is the network address of 198.18.0.0/27' });
  t.same(slotOf(B24, '198.18.0.129'), { error: 'is the gateway of 198.18.0.128/27' });
  t.same(slotOf(B24, '198.18.0.63'), { error: 'is the broadcast address of 198.18.0.32/27' });
  t.same(slotOf(B24, '198.18.1.2'), { error: 'is outside the block 198.18.0.0/24' });
});

t.test('blocks come from 198.18.0.0/15 and hold a /27 per node', async (t) => {
  t.equal(blockProblem(B24), null);
  t.equal(blockProblem(P('198.19.255.192/26')), null, 'the top of the benchmarking block');
  t.match(blockProblem(P('10.0.0.0/24')), /is not inside 198\.18\.0\.0\/15/);
  t.match(blockProblem(P('198.16.0.0/14')), /is not inside 198\.18\.0\.0\/15/, 'larger than the benchmarking block');
  t.match(blockProblem(P('198.18.0.0/27')), /is too small: a block needs at least a \/26/);
});

t.test('allocation is deterministic: pins first, the rest fill the lowest free slots in order', async (t) => {
  const wants = [{ pin: null }, { pin: '198.18.0.131' }, { pin: null }, { pin: '198.18.0.2' }, { pin: null }];
  const once = slots(allocate(B24, 1, wants));
  t.same(once, ['0/2', '0/1', '0/3', '0/0', '0/4'], 'pinned slots are skipped');
  t.same(slots(allocate(B24, 1, wants)), once, 'same input, same plan');
});

t.test('exhaustion is an error of each entry that does not fit', async (t) => {
  const wants = Array.from({ length: 31 }, () => ({ pin: null }));
  const one = slots(allocate(B24, 1, wants));
  t.equal(one.filter((s) => /^\d/.test(s)).length, 29, '29 entries fit on one transit interface');
  t.equal(one[29], 'no unique address left: 1 /27 pair × 29 addresses = 29 entries are taken; this node has 1 transit interface and 198.18.0.0/24 has room for 4 (add transit interfaces)');
  t.equal(one[30], one[29], 'and so does the 31st');
  const two = slots(allocate(B24, 2, wants));
  t.same(two.slice(28, 31), ['0/28', '1/0', '1/1'], 'a second transit interface takes pair 1');
  const small = slots(allocate(P('198.18.0.0/26'), 3, wants));
  t.equal(small[29], 'no unique address left: 1 /27 pair × 29 addresses = 29 entries are taken; 198.18.0.0/26 holds 1 /27 pair (use a larger block)', 'more interfaces than the block has pairs do not help');
});

t.test('bad pins', async (t) => {
  const placed = allocate(B24, 1, [{ pin: '198.18.0.131' }, { pin: '198.18.0.3' }, { pin: '198.18.0.162' }, { pin: '198.18.0.1' }]);
  t.same(placed[1], { error: '198.18.0.3 names the slot already pinned', clash: 0 }, 'both sides of one slot');
  t.same(placed[2], { error: '198.18.0.162 is in /27 pair 1 (198.18.0.32/27 ↔ 198.18.0.160/27), which needs transit interface 2; this node has 1 transit interface and 198.18.0.0/24 has room for 4 (add transit interfaces)' });
  t.same(placed[3], { error: '198.18.0.1 is the gateway of 198.18.0.0/27' });
});
