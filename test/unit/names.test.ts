import t from 'tap';
import { ifnameProblem, networkNameProblem, parseBool, parseMac, parseUint, tableNameProblem } from '../../src/model/names.js';

const BAD_IFNAME = 'is not a valid interface name (letters, digits and "_.-" only, starting with a letter or digit)';

t.test('interface names accepted', async (t) => {
  for (const name of ['eth0', 'eth0.222', 'tap0', 'br_vm-1', 'a', '0eth', 'abcdefghijklmno']) {
    t.equal(ifnameProblem(name), null, name);
  }
});

t.test('interface names: 15-byte limit', async (t) => {
  t.equal(ifnameProblem('abcdefghijklmno'), null, '15 bytes is fine');
  t.equal(ifnameProblem('abcdefghijklmnop'), 'is 16 bytes long; Linux interface names have at most 15');
  t.equal(ifnameProblem('é'.repeat(8)), 'is 16 bytes long; Linux interface names have at most 15', 'bytes, not characters');
  t.equal(ifnameProblem(''), 'is empty');
});

t.test('interface names: characters that reach shells, nft and /proc/sys', async (t) => {
  for (const name of ['tap0;rm', 'tap$x', 'tap(0)', 'tap0 x', ' tap0', 'tap0\n', 'tap\n0', 'tap\t0', 'eth0/1', 'eth0:1', '"tap"', "tap'", 'tap{', 'tap`id`', 'ethé']) {
    t.equal(ifnameProblem(name), BAD_IFNAME, JSON.stringify(name));
  }
});

t.test('interface names: "." and ".." and names not starting with a letter or digit', async (t) => {
  t.equal(ifnameProblem('.'), BAD_IFNAME);
  t.equal(ifnameProblem('..'), BAD_IFNAME);
  t.equal(ifnameProblem('.eth0'), BAD_IFNAME);
  t.equal(ifnameProblem('-eth0'), BAD_IFNAME);
  t.equal(ifnameProblem('_eth0'), BAD_IFNAME);
});

t.test('network names', async (t) => {
  const bad = 'is not a valid network name (1-32 letters, digits, "_" or "-", starting with a letter or digit)';
  t.equal(networkNameProblem('public'), null);
  t.equal(networkNameProblem('vm-net_2'), null);
  t.equal(networkNameProblem('a'.repeat(32)), null);
  t.equal(networkNameProblem('a'.repeat(33)), bad);
  t.equal(networkNameProblem(''), bad);
  t.equal(networkNameProblem('pub.lic'), bad);
  t.equal(networkNameProblem('-pub'), bad);
  t.equal(networkNameProblem('pub lic'), bad);
});

t.test('routing table names', async (t) => {
  const bad = 'is not a valid routing table name (a word of letters, digits, "_" or "-")';
  t.equal(tableNameProblem('public'), null);
  t.equal(tableNameProblem('_vm-1'), null);
  t.equal(tableNameProblem('222'), bad, 'a number is an id, not a name');
  t.equal(tableNameProblem('pub lic'), bad);
  for (const reserved of ['local', 'main', 'default', 'unspec', 'all']) t.equal(tableNameProblem(reserved), 'is reserved by iproute2', reserved);
});

t.test('parseMac', async (t) => {
  t.equal(parseMac('52:54:00:12:34:56'), '52:54:00:12:34:56');
  t.equal(parseMac('CC:47:52:4E:45:54'), 'cc:47:52:4e:45:54', 'lower-cased');
  t.equal(parseMac('02:00:00:00:00:01'), '02:00:00:00:00:01', 'locally administered unicast');
  t.equal(parseMac('01:00:5e:00:00:01'), null, 'IPv4 multicast');
  t.equal(parseMac('33:33:00:00:00:01'), null, 'IPv6 multicast');
  t.equal(parseMac('ff:ff:ff:ff:ff:ff'), null, 'broadcast');
  t.equal(parseMac('00:00:00:00:00:00'), null, 'all zero');
  t.equal(parseMac('52-54-00-12-34-56'), null);
  t.equal(parseMac('5254.0012.3456'), null);
  t.equal(parseMac('52:54:0:12:34:56'), null, 'short octet');
  t.equal(parseMac('52:54:00:12:34'), null, 'five octets');
  t.equal(parseMac('52:54:00:12:34:56:78'), null, 'seven octets');
  t.equal(parseMac('52:54:00:12:34:56\n'), null, 'trailing newline');
  t.equal(parseMac('52:54:00:12:34:5g'), null);
});

t.test('parseUint', async (t) => {
  t.equal(parseUint('0', 0, 10), 0);
  t.equal(parseUint('10', 0, 10), 10, 'max is inclusive');
  t.equal(parseUint('1', 1, 10), 1, 'min is inclusive');
  t.equal(parseUint('11', 0, 10), null, 'above max');
  t.equal(parseUint('0', 1, 10), null, 'below min');
  t.equal(parseUint('4294967295', 1, 0xffffffff), 4294967295);
  t.equal(parseUint('4294967296', 1, 0xffffffff), null);
  t.equal(parseUint('0x10', 0, 100), 16);
  t.equal(parseUint('0xfF', 0, 1000), 255);
  t.equal(parseUint('0xffffffff', 0, 0xffffffff), 0xffffffff);
  t.equal(parseUint('0x100000000', 0, Number.MAX_SAFE_INTEGER), null, 'at most 8 hex digits');
  t.equal(parseUint('12345678901', 0, Number.MAX_SAFE_INTEGER), null, 'at most 10 decimal digits');
  t.equal(parseUint('0X10', 0, 100), null, 'upper-case X');
  t.equal(parseUint('0x', 0, 100), null);
  t.equal(parseUint('010', 0, 100), null, 'no leading zero (octal-looking)');
  t.equal(parseUint('-1', -5, 5), null, 'no sign');
  t.equal(parseUint('+1', 0, 5), null, 'no sign');
  t.equal(parseUint('1e3', 0, 5000), null, 'no exponent');
  t.equal(parseUint('1.0', 0, 5), null);
  t.equal(parseUint(' 1', 0, 5), null);
  t.equal(parseUint('', 0, 5), null);
});

t.test('parseBool', async (t) => {
  for (const yes of ['1', 'yes', 'true', 'on', 'YES', 'True', 'On']) t.equal(parseBool(yes), true, yes);
  for (const no of ['0', 'no', 'false', 'off', 'NO', 'False', 'OFF']) t.equal(parseBool(no), false, no);
  for (const neither of ['', 'y', 'n', '2', 'enabled', ' yes', 'yes ']) t.equal(parseBool(neither), null, JSON.stringify(neither));
});
