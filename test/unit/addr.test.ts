import t from 'tap';
import {
  addressBytes,
  contains,
  eui64,
  overlaps,
  parseAddress,
  parsePrefix,
  reservedAddresses,
  solicitedNode,
  type Prefix,
} from '../../src/model/addr.js';

/** A prefix that must parse; throws (and fails the test) otherwise. */
function prefix(text: string): Prefix {
  const p = parsePrefix(text);
  if (!p || 'error' in p) throw new Error(`${text} did not parse: ${JSON.stringify(p)}`);
  return p;
}

/** The message of the error `f` throws, or "(no error)". */
function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return '(no error)';
}

t.test('parseAddress: strict IPv4', async (t) => {
  t.strictSame(parseAddress('192.0.2.1'), { family: 4, address: '192.0.2.1' });
  t.equal(parseAddress('10.1'), null, 'no "10.1" shorthand');
  t.equal(parseAddress('10.0.1'), null, 'no three-part shorthand');
  t.equal(parseAddress('3232235777'), null, 'no single number');
  t.equal(parseAddress('010.0.0.1'), null, 'no octal-looking leading zero');
  t.equal(parseAddress('0x0a.0.0.1'), null, 'no hex part');
  t.equal(parseAddress('192.0.2.256'), null);
  t.equal(parseAddress(' 192.0.2.1'), null, 'no surrounding space');
  t.equal(parseAddress(''), null);
});

t.test('parseAddress: strict IPv6, canonical output', async (t) => {
  t.strictSame(parseAddress('2001:DB8:0:0:0:0:0:1'), { family: 6, address: '2001:db8::1' });
  t.strictSame(parseAddress('fe80::1'), { family: 6, address: 'fe80::1' });
  t.equal(parseAddress('fe80::1%eth0'), null, 'zone index refused');
  t.equal(parseAddress('fe80::1%1'), null, 'numeric zone index refused');
  t.equal(parseAddress('::ffff:192.0.2.1'), null, 'IPv4-mapped refused');
  t.equal(parseAddress('::ffff:c000:201'), null, 'IPv4-mapped in hex refused');
  t.equal(parseAddress('2001:db8::1::2'), null);
  t.equal(parseAddress('[2001:db8::1]'), null);
});

t.test('parseAddress: family filter', async (t) => {
  t.equal(parseAddress('192.0.2.1', 6), null);
  t.equal(parseAddress('2001:db8::1', 4), null);
  t.strictSame(parseAddress('192.0.2.1', 4), { family: 4, address: '192.0.2.1' });
  t.strictSame(parseAddress('2001:db8::1', 6), { family: 6, address: '2001:db8::1' });
});

t.test('parsePrefix', async (t) => {
  t.strictSame(parsePrefix('192.0.2.0/24'), { family: 4, address: '192.0.2.0', length: 24, cidr: '192.0.2.0/24' });
  t.strictSame(parsePrefix('2001:DB8:0::/64'), { family: 6, address: '2001:db8::', length: 64, cidr: '2001:db8::/64' });
  t.strictSame(parsePrefix('0.0.0.0/0'), { family: 4, address: '0.0.0.0', length: 0, cidr: '0.0.0.0/0' });
  t.strictSame(parsePrefix('192.0.2.1/24'), { error: 'has host bits set (did you mean 192.0.2.0/24?)' });
  t.strictSame(parsePrefix('198.51.100.77/26'), { error: 'has host bits set (did you mean 198.51.100.64/26?)' });
  t.strictSame(parsePrefix('2001:db8::1/64'), { error: 'has host bits set (did you mean 2001:db8::/64?)' });
  t.equal(parsePrefix('192.0.2.0'), null, 'no length');
  t.equal(parsePrefix('192.0.2.0/'), null);
  t.equal(parsePrefix('192.0.2.0/33'), null);
  t.equal(parsePrefix('2001:db8::/129'), null);
  t.equal(parsePrefix('192.0.2.0/-1'), null);
  t.equal(parsePrefix('192.0.2.0/24x'), null);
  t.equal(parsePrefix('192.0.2.0/1000'), null);
  t.equal(parsePrefix('192.0.2/24'), null, 'shorthand address');
  t.equal(parsePrefix('fe80::%eth0/64'), null, 'zone index');
  t.equal(parsePrefix('192.0.2.0/24', 6), null, 'family filter');
  t.equal(parsePrefix('2001:db8::/64', 4), null, 'family filter');
});

t.test('contains', async (t) => {
  const p = prefix('192.0.2.0/24');
  t.equal(contains(p, '192.0.2.0'), true);
  t.equal(contains(p, '192.0.2.255'), true);
  t.equal(contains(p, '192.0.3.0'), false);
  t.equal(contains(p, '192.0.1.255'), false);
  t.equal(contains(p, '2001:db8::1'), false, 'other family');
  const p6 = prefix('2001:db8::/64');
  t.equal(contains(p6, '2001:db8::ffff:ffff:ffff:ffff'), true);
  t.equal(contains(p6, '2001:db8:0:1::'), false);
  t.equal(contains(p6, '192.0.2.1'), false, 'other family');
});

t.test('overlaps', async (t) => {
  t.equal(overlaps(prefix('192.0.2.0/24'), prefix('192.0.2.128/25')), true, 'wider first');
  t.equal(overlaps(prefix('192.0.2.128/25'), prefix('192.0.2.0/24')), true, 'narrower first');
  t.equal(overlaps(prefix('192.0.2.0/25'), prefix('192.0.2.128/25')), false, 'adjacent halves');
  t.equal(overlaps(prefix('192.0.2.0/24'), prefix('192.0.2.0/24')), true, 'equal');
  t.equal(overlaps(prefix('2001:db8::/48'), prefix('2001:db8:0:5::/64')), true);
  t.equal(overlaps(prefix('2001:db8::/64'), prefix('2001:db8:0:1::/64')), false);
  t.equal(overlaps(prefix('0.0.0.0/0'), prefix('2001:db8::/64')), false, 'families never overlap');
});

t.test('reservedAddresses', async (t) => {
  t.strictSame(reservedAddresses(prefix('192.0.2.0/24')), ['192.0.2.0', '192.0.2.255']);
  t.strictSame(reservedAddresses(prefix('198.51.100.64/26')), ['198.51.100.64', '198.51.100.127']);
  t.strictSame(reservedAddresses(prefix('192.0.2.0/30')), ['192.0.2.0', '192.0.2.3']);
  t.strictSame(reservedAddresses(prefix('192.0.2.0/31')), [], 'RFC 3021 point-to-point');
  t.strictSame(reservedAddresses(prefix('2001:db8::/64')), ['2001:db8::'], 'subnet-router anycast');
  t.strictSame(reservedAddresses(prefix('2001:db8::/127')), [], 'RFC 6164 point-to-point');
});

t.test('EUI-64 from a MAC (RFC 4291 appendix A)', async (t) => {
  const p = prefix('2001:db8::/64');
  t.equal(eui64(p, '52:54:00:12:34:56'), '2001:db8::5054:ff:fe12:3456', 'U/L bit cleared');
  t.equal(eui64(p, '00:11:22:33:44:55'), '2001:db8::211:22ff:fe33:4455', 'U/L bit set');
  t.equal(eui64(prefix('2001:db8:1::/48'), 'aa:bb:cc:dd:ee:ff'), '2001:db8:1:0:a8bb:ccff:fedd:eeff', 'shorter prefix');
  t.equal(thrown(() => eui64(prefix('2001:db8::/96'), '52:54:00:12:34:56')), 'EUI-64 needs an IPv6 prefix of /64 or shorter, not 2001:db8::/96');
  t.equal(thrown(() => eui64(prefix('192.0.2.0/24'), '52:54:00:12:34:56')), 'EUI-64 needs an IPv6 prefix of /64 or shorter, not 192.0.2.0/24');
});

t.test('solicited-node multicast group', async (t) => {
  t.equal(solicitedNode('2001:db8::5054:ff:fe12:3456'), 'ff02::1:ff12:3456');
  t.equal(solicitedNode('fe80::1'), 'ff02::1:ff00:1');
  t.equal(solicitedNode('2001:db8::abcd:ef01:2345:6789'), 'ff02::1:ff45:6789');
});

t.test('addressBytes', async (t) => {
  t.strictSame(addressBytes('192.0.2.11'), [192, 0, 2, 11]);
  t.strictSame(addressBytes('ff02::1'), [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
});
