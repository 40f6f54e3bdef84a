/** `vmrouter frr`: the FRR configuration of routed networks with routing = bgp (render/frr-network.ts). */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { renderNetworkFrr } from '../../src/render/frr-network.js';
import { parseNetworks } from '../lib/config.js';

const example = (name: string) => parseNetworks(readFileSync(new URL(`../../examples/routed-bgp/${name}`, import.meta.url), 'utf8'));
const section = (name: string, role: string, extra: string[]) => ['[network ' + name + ']', `role = ${role}`, 'uplink = eth1', ...(role === 'vmc' ? ['table = ' + (name === 'a' ? 222 : 223)] : []), ...extra].join('\n') + '\n';

t.test('examples/routed-bgp: a VMC node and a router', async (t) => {
  const vmc = await renderNetworkFrr(example('vmc-node.conf'), 'vmc-node.conf');
  t.match(vmc['frr.conf'], /^ip route 0\.0\.0\.0\/0 192\.0\.2\.1 table 222$/m, 'the VMs\' default through the gateway, in their table');
  t.match(vmc['frr.conf'], /^ipv6 route ::\/0 2001:db8::1 table 222$/m);
  t.match(vmc['frr.conf'], /redistribute kernel route-map vmrouter-vms\n/, 'the VMs\' host routes from main');
  t.match(vmc['frr.conf'], /neighbor 10\.1\.0\.1 route-map vmrouter-gateways in\n  neighbor 10\.1\.0\.1 route-map vmrouter-vms out/, 'takes the gateway, gives the VMs');
  t.match(vmc['frr.conf'], /ip prefix-list vmrouter-vms seq 5 permit 192\.0\.2\.0\/24 ge 32/, 'host routes inside the subnet only');
  t.match(vmc['frr.conf'], /neighbor fd00:1::2 bfd profile vmrouter/);
  t.match(vmc['frr.conf'], /^ bgp router-id 10\.1\.0\.11$/m);
  t.match(vmc.daemons, /^bfdd=yes$/m);
  t.match(vmc.daemons, /^bgpd=yes$/m);
  const router = (await renderNetworkFrr(example('router.conf'), 'router.conf'))['frr.conf'];
  t.match(router, /^  network 192\.0\.2\.1\/32$/m, 'announces the gateway');
  t.match(router, /^  network 2001:db8::1\/128$/m);
  t.notMatch(router, /redistribute|table 222/, 'nothing else');
  t.match(router, /neighbor 10\.2\.0\.12 route-map vmrouter-vms in\n  neighbor 10\.2\.0\.12 route-map vmrouter-gateways out/);
  t.match(router, /route-map vmrouter-vms6 permit 10\n match ipv6 address prefix-list vmrouter-vms6\n ! [^\n]*\n set ipv6 next-hop prefer-global/, 'IPv6 routes name the node, not its link-local');
});

t.test('several networks share one session: the shortest hold time and BFD interval, one prefix list entry each', async (t) => {
  const nets = parseNetworks(
    section('a', 'vmc', ['subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'routing = bgp', 'peers = 10.1.0.1', 'bgp_hold = 30', 'bfd_interval = 300']) +
      section('b', 'vmc', ['subnet = 198.18.0.0/24', 'gateway = 198.18.0.1', 'routing = bgp', 'peers = 10.1.0.1', 'bgp_hold = 6', 'bfd_interval = 50']),
  );
  const conf = (await renderNetworkFrr(nets, 'f'))['frr.conf'];
  t.match(conf, /neighbor 10\.1\.0\.1 timers 2 6\n/);
  t.match(conf, /transmit-interval 50\n/);
  t.equal(conf.match(/^ neighbor 10\.1\.0\.1 remote-as/gm)?.length, 1, 'one session');
  t.match(conf, /seq 5 permit 192\.0\.2\.0\/24 ge 32[\s\S]*seq 10 permit 198\.18\.0\.0\/24 ge 32/);
  t.match(conf, /table 222\n[\s\S]*198\.18\.0\.1 table 223\n/);
});

t.test('without BFD, and without any bgp network', async (t) => {
  const plain = await renderNetworkFrr(parseNetworks(section('a', 'vmc', ['subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'routing = bgp', 'peers = 10.1.0.1', 'bfd = no'])), 'f');
  t.notMatch(plain['frr.conf'], /bfd/);
  t.match(plain.daemons, /^bfdd=no$/m);
  await t.rejects(renderNetworkFrr(parseNetworks(section('a', 'vmc', ['subnet = 192.0.2.0/24', 'gateway = 192.0.2.1', 'arp_ip = 192.0.2.254'])), 'f'), /f: no \[network NAME\] with routing = bgp/);
});
