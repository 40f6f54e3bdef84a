/**
 * The domain XML libvirt hands its qemu hook, as Debian 12's libvirt 9.0 wrote it (test/fixtures/libvirt,
 * captured from a real libvirtd): vmrouter's NICs, their TAPs and addresses.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { UsageError } from '../../src/config/errors.js';
import { domainNics, domainTapRequest } from '../../src/model/libvirt-domain.js';

const FIX = join(import.meta.dirname, '../fixtures/libvirt');
const fixture = (p: string) => readFileSync(join(FIX, p), 'utf8');
const WHERE = 'stdin';

t.test('running domain: three NICs, their TAPs (vnet0 chosen by libvirt), addresses by family', async (t) => {
  const d = domainNics(fixture('dumpxml-running.xml'), WHERE);
  t.equal(d.domain, 'lvtest1');
  t.same(d.nics, [
    { mac: '52:54:00:00:00:11', network: 'public', ips: ['192.0.2.11'], ip6s: ['2001:db8::11'], tap: 'vm1-eth0' },
    { mac: '52:54:00:00:00:12', network: 'public', ips: ['192.0.2.12'], ip6s: ['2001:db8::12'], tap: 'vnet0' },
    { mac: '52:54:00:00:00:13', network: 'private', ips: ['198.51.100.13'], ip6s: [], tap: 'vm1-eth2' },
  ]);
  const req = domainTapRequest(d, d.nics[1]!);
  t.match(req, { network: 'public', tap: 'vnet0', mac: '52:54:00:00:00:12', ips: ['192.0.2.12'], ip6s: ['2001:db8::12'], hostname: 'lvtest1' });
});

t.test('what each hook call gets: the TAP libvirt chose is gone from the XML at stopped end', async (t) => {
  const taps = (p: string) => domainNics(fixture(`hooks/${p}.xml`), WHERE).nics.map((n) => n.tap);
  t.same(taps('start/002-started-begin'), ['vm1-eth0', 'vnet0', 'vm1-eth2'], 'started begin: every TAP named');
  t.same(taps('daemon-restart/000-reconnect-begin'), ['vm1-eth0', 'vnet0', 'vm1-eth2'], 'reconnect begin: the same');
  t.same(taps('destroy/000-stopped-end'), ['vm1-eth0', null, 'vm1-eth2'], 'stopped end: vnetN no longer named (unbound by MAC)');
  t.same(taps('qemu.d/000-prepare-begin'), ['vm1-eth0', null, 'vm1-eth2'], 'prepare begin: before libvirt made the TAPs');
  const inactive = domainNics(fixture('dumpxml-inactive.xml'), WHERE);
  t.throws(() => domainTapRequest(inactive, inactive.nics[1]!), /NIC 52:54:00:00:00:12: no <target dev>: the domain is not running/);
});

t.test('the namespace counts, not the prefix; a domain without vmrouter metadata has no NICs of ours', async (t) => {
  const variants = fixture('metadata-variants.txt');
  const dumped = (name: string) => new RegExp(`## ${name}\\n### defined\\n[\\s\\S]*?### dumpxml\\n([\\s\\S]*?</domain>)`).exec(variants)![1]!;
  const withNic = (xml: string) => xml.replace('<devices>', "<devices><interface type='ethernet'><mac address='52:54:00:00:00:11'/><target dev='vm1-eth0'/></interface>");
  t.same(domainNics(withNic(dumped('default-namespace')), WHERE).nics.map((n) => n.ips), [['192.0.2.11']], 'a default namespace');
  t.same(domainNics(withNic(dumped('no-namespace')), WHERE).nics, [], 'no namespace: libvirt dropped it; nothing of ours');
  const other = withNic(dumped('default-namespace')).replace('xmlns="https://vmrouter.example/xmlns/1"', 'xmlns:v="https://vmrouter.example/xmlns/1"');
  t.same(domainNics(other, WHERE).nics, [], 'elements outside the namespace that merely look alike are not read');
  const renamed = fixture('dumpxml-running.xml').replaceAll('vmrouter:', 'vr:').replace('xmlns:vmrouter=', 'xmlns:vr=');
  t.equal(domainNics(renamed, WHERE).nics.length, 3, 'any prefix (virsh metadata --set --key vr)');
});

t.test('bad input names the domain, the NIC and the attribute', async (t) => {
  const base = fixture('dumpxml-running.xml');
  const bad = (xml: string, re: RegExp, what: string) => {
    try {
      domainNics(xml, WHERE);
      t.fail(`${what}: accepted`);
    } catch (e) {
      t.ok(e instanceof UsageError, `${what}: a usage error`);
      t.match((e as Error).message, re, what);
    }
  };
  bad('<domain><name>x', /^stdin: not XML/, 'not XML');
  bad('<foo/>', /^stdin: no <domain> element/, 'no domain');
  bad(`<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>${base.replace('lvtest1', '&b;')}`, /^stdin: a DOCTYPE or ENTITY declaration/, 'entity declarations (expansion bombs)');
  bad(base.replace('mac="52:54:00:00:00:11"', 'mac="01:00:5e:00:00:01"'), /domain lvtest1: <vmrouter:nic mac="01:00:5e:00:00:01">: not a unicast MAC address/, 'multicast MAC');
  bad(base.replace('mac="52:54:00:00:00:11"', 'mac="52:54:00:00:00:99"'), /NIC 52:54:00:00:00:99: the domain has no <interface> with that MAC/, 'MAC of no interface');
  bad(base.replace('address="192.0.2.11"', 'address="192.0.2.300"'), /NIC 52:54:00:00:00:11: <vmrouter:ip address="192.0.2.300">: not an IP address/, 'bad address');
  bad(base.replace('network="private"', 'network="a b"'), /NIC 52:54:00:00:00:13: network="a b"/, 'bad network name');
  bad(base.replace("<interface type='ethernet'>", "<interface type='bridge'>"), /<interface type='bridge'>: vmrouter routes type='ethernet' NICs/, 'a bridged NIC');
  bad(base.replace("<target dev='vm1-eth0'/>", "<target dev='x;rm -rf'/>"), /<target dev="x;rm -rf">/, 'a hostile TAP name');
  bad(base.replace('mac="52:54:00:00:00:12"', 'mac="52:54:00:00:00:11"'), /NIC 52:54:00:00:00:11 is listed twice/, 'a NIC twice');
});
