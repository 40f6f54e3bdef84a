/**
 * The Debian package (issue 5), as an operator gets it: built with dpkg-buildpackage from a clean
 * copy of the committed tree (git archive HEAD: nothing uncommitted leaks in), lintian --pedantic,
 * `apt-get install ./vmrouter_*.deb`, then on the installed files:
 *  2. ifup/ifdown in a namespace whose /etc/network has the installed hooks, unmodified (also the
 *     autopkgtest debian/tests/installed);
 *  3. /usr/sbin/vmrouter from / with an empty environment;
 *  4. after `apt-get remove` the leftover hooks are silent; `apt-get purge` leaves no file behind.
 * The package is purged in teardown whatever happens, so the machine is left as it was found.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Lab, ifupdown, installPackagedHooks } from '../lib/netns.js';
import { inNs, run } from '../lib/run.js';
import { singleNode } from '../lib/single-node.js';
import { snapshot, snapshotDiff } from '../lib/snapshot.js';
import { vmcConf } from '../lib/topology.js';
import { ROOT } from '../lib/vmrouter.js';

const PREFIX = 'vr5p-';
const SBIN = '/usr/sbin/vmrouter';
const installed = async (): Promise<string> => (await run(['dpkg-query', '-W', '-f', '${db:Status-Abbrev}', 'vmrouter'], { ok: false })).stdout.trim();

const why = process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/bin/dpkg-buildpackage') || !existsSync('/usr/bin/lintian') ? 'needs dpkg-dev, debhelper and lintian (scripts/setup.sh)' : !existsSync(join(ROOT, '.git')) ? 'needs the git repository' : null;
if (why) t.plan(0, why);
else await main();

async function main(): Promise<void> {
  if ((await installed()).startsWith('i') || (await installed()).startsWith('r')) {
    t.fail('a vmrouter package is already on this machine: this test would replace and purge it; remove it first');
    return;
  }
  const lab = new Lab(PREFIX);
  const work = mkdtempSync(join(tmpdir(), 'vmrouter-deb-'));
  const src = join(work, 'vmrouter');
  // NODE_EXTRA_CA_CERTS stays: npm ci in the build may need it for the registry
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let deb = '';
  let listed: string[] = [];
  const packagesBefore = (await run(['dpkg-query', '-W', '-f', '${Package}\n'])).stdout;
  const etcFindBefore = await findVmrouterFiles();

  t.teardown(async () => {
    await lab.cleanup();
    if ((await installed()) !== '') await run(['apt-get', 'purge', '-y', '-qq', 'vmrouter'], { env, ok: false });
    rmSync(work, { recursive: true, force: true });
  });

  t.test('dpkg-buildpackage builds the .deb from a clean copy of HEAD', async (t) => {
    await run(['sh', '-c', `mkdir -p "$2" && git -C "$1" archive --format=tar HEAD | tar -x -C "$2"`, 'sh', ROOT, src]);
    t.notOk(existsSync(join(src, 'node_modules')) || existsSync(join(src, 'dist')), 'no build output nor node_modules in the copy');
    const r = await run(['dpkg-buildpackage', '-us', '-uc', '-b'], { cwd: src, env, ok: false });
    t.equal(r.code, 0, 'dpkg-buildpackage -us -uc -b');
    if (r.code !== 0) t.comment(`${r.stdout}\n${r.stderr}`.split('\n').slice(-40).join('\n'));
    const debs = readdirSync(work).filter((f) => /^vmrouter_.*_amd64\.deb$/.test(f));
    t.equal(debs.length, 1, `one .deb: ${debs.join(' ')}`);
    deb = join(work, debs[0] ?? 'missing.deb');
    t.comment(`.deb size: ${statSync(deb).size} bytes (${(statSync(deb).size / 2 ** 20).toFixed(1)} MiB)`);
    const contents = (await run(['dpkg-deb', '-c', deb])).stdout;
    t.match(contents, / \.\/usr\/sbin\/vmrouter\n/, 'the binary');
    t.notMatch(contents, /\.node\n/, 'no addon file beside it: it is inside the binary');
  });

  t.test('lintian --pedantic: no tag that is not overridden with a reason', async (t) => {
    const args = ['--pedantic', '--display-info', '--display-experimental', '--tag-display-limit', '0'];
    // the verdict: any tag at any level that is not overridden fails
    const r = await run(['lintian', ...args, '--fail-on', 'error,warning,info,pedantic,experimental', deb], { ok: false });
    const tags = r.stdout.split('\n').filter((l) => /^[EWIPX]: /.test(l));
    t.same(tags, [], 'no tag that is not overridden');
    t.equal(r.code, 0, `lintian exit 0${r.code ? `: ${r.stderr.trim()}` : ''}`);
    // for the record, the overridden ones (--show-overrides makes lintian exit 2 whatever it finds)
    const shown = await run(['lintian', ...args, '--show-overrides', deb], { ok: false });
    for (const l of shown.stdout.split('\n').filter((x) => /^[EWIPXO]: /.test(x))) t.comment(`lintian ${l}`);
    // every override in debian/vmrouter.lintian-overrides has a comment above it (its reason)
    const lines = readFileSync(join(src, 'debian', 'vmrouter.lintian-overrides'), 'utf8').split('\n');
    const unexplained = lines.filter((l, i) => l.trim() && !l.startsWith('#') && !(lines[i - 1] ?? '').startsWith('#') && !(lines[i - 1] ?? '').trim().match(/^\S+ .*\[.*\]$/));
    t.same(unexplained, [], 'every override is justified in a comment');
  });

  t.test('apt-get install ./vmrouter_*.deb', async (t) => {
    const r = await run(['apt-get', 'install', '-y', '-qq', `./${deb.split('/').pop()}`], { cwd: work, env, ok: false });
    t.equal(r.code, 0, `apt-get install (${r.stderr.trim().split('\n').slice(-3).join(' | ')})`);
    t.match(await installed(), /^ii/, 'installed');
    t.comment(`Installed-Size: ${(await run(['dpkg-query', '-W', '-f', '${Installed-Size}', 'vmrouter'])).stdout} KiB`);
    listed = (await run(['dpkg', '-L', 'vmrouter'])).stdout.split('\n').filter(Boolean);
    const conffiles = (await run(['dpkg-query', '-W', '-f', '${Conffiles}', 'vmrouter'])).stdout;
    for (const f of ['/etc/network/if-up.d/vmrouter', '/etc/network/if-down.d/vmrouter', '/etc/vmrouter/vmrouter.conf']) t.match(conffiles, f, `conffile ${f}`);
    for (const f of ['/usr/share/man/man8/vmrouter.8.gz', '/usr/share/man/man5/vmrouter.conf.5.gz', '/usr/share/bash-completion/completions/vmrouter', '/lib/systemd/system/vmrouter-ndp.service', '/lib/systemd/system/vmrouter-reconcile.service', '/usr/share/doc/vmrouter/examples/ganeti/kvm-vif-bridge', '/usr/share/doc/vmrouter/examples/libvirt/qemu', '/usr/share/doc/vmrouter/examples/libvirt/domain.xml']) t.ok(listed.includes(f), f);
    t.equal(readFileSync('/etc/network/if-up.d/vmrouter', 'utf8'), readFileSync(join(ROOT, 'hooks', 'vmrouter'), 'utf8'), 'the hook is hooks/vmrouter');
  });

  t.test('3: the installed binary runs from / with an empty environment', async (t) => {
    const once = () => spawnSync(SBIN, ['--version'], { cwd: '/', env: {}, encoding: 'utf8' });
    const r = once();
    t.equal(r.status, 0, 'exit 0');
    t.equal(r.stdout.trim(), (await run(['dpkg-query', '-W', '-f', '${Version}', 'vmrouter'])).stdout, '--version is the package version');
    const times: number[] = [];
    for (let i = 0; i < 11; i++) {
      const start = process.hrtime.bigint();
      once();
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    t.comment(`env -i ${SBIN} --version: median of 11 runs ${times[5]!.toFixed(1)} ms (min ${times[0]!.toFixed(1)}, max ${times[10]!.toFixed(1)})`);
    // no Node.js at all: the system's node and global modules hidden in a private mount namespace
    const hidden = await run(['unshare', '--mount', 'sh', '-c', `mount --bind /dev/null /usr/bin/node && { [ ! -d /usr/lib/node_modules ] || mount -t tmpfs none /usr/lib/node_modules; } && cd / && env -i ${SBIN} --version`], { ok: false });
    t.same([hidden.code, hidden.stdout.trim()], [0, r.stdout.trim()], `runs with /usr/bin/node hidden${hidden.code ? `: ${hidden.stderr}` : ''}`);
    const help = spawnSync(SBIN, [], { cwd: '/', env: {}, encoding: 'utf8' });
    t.match(help.stdout, /^Usage: vmrouter/, 'no arguments: help');
    const bad = spawnSync(SBIN, ['--config', '/nonexistent', 'check'], { cwd: '/', env: {}, encoding: 'utf8' });
    t.same([bad.status, bad.stderr.trim().split('\n').length], [2, 1], `an error: exit 2, one line (${bad.stderr.trim()})`);
  });

  t.test('2: the autopkgtest (debian/tests/installed) passes', async (t) => {
    const r = await run(['sh', join(src, 'debian', 'tests', 'installed')], { env: { ...env, AUTOPKGTEST_TMP: work }, ok: false });
    for (const l of r.stdout.split('\n').filter(Boolean)) t.comment(l);
    t.equal(r.code, 0, `exit 0${r.code ? `: ${r.stderr}` : ''}`);
  });

  // node, its uplink to a peer, one VM behind tap1
  let node = '';
  let baseline = '';
  const conf = join(work, 'vmrouter.conf');
  const recreateUplink = async () => {
    await lab.link(node, 'eth0.222', `${PREFIX}peer`, 'eth0');
    await lab.up(`${PREFIX}peer`, 'eth0');
  };

  t.test('2: ifup with the installed hooks applies the network, ifdown removes exactly it', async (t) => {
    await Lab.sweep(PREFIX);
    ({ node } = await singleNode(lab, 'eth0.222', ['tap1']));
    baseline = await snapshot(node, { recreated: ['eth0.222'] });
    writeFileSync(conf, vmcConf());
    const stanza = (await run([SBIN, '--config', conf, 'generate'])).stdout;
    t.match(stanza, /^iface eth0\.222 inet manual$/m, 'the installed vmrouter generate wrote the stanza');
    installPackagedHooks(node, stanza);
    t.equal(readFileSync(`/etc/netns/${node}/network/if-up.d/vmrouter`, 'utf8'), readFileSync('/etc/network/if-up.d/vmrouter', 'utf8'), 'hooks copied unmodified');

    await ifupdown(node, 'ifup', 'eth0.222');
    const rules = (await inNs(node, ['ip', '-4', 'rule', 'show'])).stdout;
    t.match(rules, /from all to 192\.0\.2\.0\/24 iif eth0\.222 lookup 222 proto 86/, 'rule: uplink traffic for the subnet');
    t.match(rules, /from all fwmark 0xde lookup 222 proto 86/, 'rule: fwmark of the TAPs');
    t.match((await inNs(node, ['ip', '-6', 'rule', 'show'])).stdout, /lookup 222 proto 86/, 'IPv6 rules');
    t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /default via 192\.0\.2\.1 dev eth0\.222 proto 86/, 'route: table 222');
    t.match((await inNs(node, ['nft', 'list', 'table', 'arp', 'vmrouter'])).stdout, /"eth0\.222" : 192\.0\.2\.254/, 'nft table arp vmrouter: ARP source arp_ip');
    t.match((await inNs(node, ['nft', 'list', 'tables'])).stdout, /table inet vmrouter/, 'nft table inet vmrouter');
    const sys = async (path: string) => (await inNs(node, ['cat', `/proc/sys/${path}`])).stdout.trim();
    t.same([await sys('net/ipv4/conf/eth0.222/proxy_arp'), await sys('net/ipv4/conf/eth0.222/forwarding'), await sys('net/ipv6/conf/eth0.222/proxy_ndp')], ['1', '1', '1'], 'sysctls: proxy_arp, forwarding, proxy_ndp');

    // tap up announces the VM with a gratuitous ARP: the packet addon, loaded from inside the binary
    const bare = { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, extendEnv: false };
    await inNs(node, [SBIN, '--config', conf, 'tap', 'up', '--network', 'public', '--tap', 'tap1', '--mac', '52:54:00:00:00:11', '--ip', '192.0.2.11'], bare);
    t.match((await inNs(node, ['ip', 'route', 'show', 'table', '222'])).stdout, /192\.0\.2\.11 dev tap1 proto 86/, 'tap up: host route');
    t.same(readdirSync('/run/vmrouter').filter((f) => f.startsWith('.addon')), [], 'the extracted addon is gone');
    await inNs(node, [SBIN, 'tap', 'down', '--tap', 'tap1'], bare);

    await ifupdown(node, 'ifdown', 'eth0.222');
    await recreateUplink();
    t.equal(snapshotDiff(baseline, await snapshot(node, { recreated: ['eth0.222'] })), '', 'kernel state after ifdown = before ifup');
  });

  t.test('4: removed, not purged: the leftover hooks do nothing and say nothing', async (t) => {
    const r = await run(['apt-get', 'remove', '-y', '-qq', 'vmrouter'], { env, ok: false });
    t.equal(r.code, 0, 'apt-get remove');
    t.match(await installed(), /^rc/, 'state: removed, config files left');
    t.notOk(existsSync(SBIN), `${SBIN} is gone`);
    t.ok(existsSync('/etc/network/if-up.d/vmrouter') && existsSync('/etc/network/if-down.d/vmrouter'), 'the hooks (conffiles) stay');
    installPackagedHooks(node, readFileSync(`/etc/netns/${node}/network/interfaces`, 'utf8'));
    for (const verb of ['ifup', 'ifdown'] as const) {
      const out = await ifupdown(node, verb, 'eth0.222', [], false);
      t.same([out.code, out.stderr, out.stdout], [0, '', ''], `${verb} eth0.222: exit 0, no output`);
    }
    await recreateUplink();
    t.equal(snapshotDiff(baseline, await snapshot(node, { recreated: ['eth0.222'] })), '', 'nothing was applied');
  });

  t.test('4: purge leaves no file of the package behind', async (t) => {
    const r = await run(['apt-get', 'purge', '-y', '-qq', 'vmrouter'], { env, ok: false });
    t.equal(r.code, 0, 'apt-get purge');
    t.equal(await installed(), '', 'dpkg no longer knows vmrouter');
    t.ok(listed.length > 20, `dpkg -L listed ${listed.length} paths before`);
    const left = listed.filter((p) => existsSync(p) && !statSync(p).isDirectory());
    t.same(left, [], 'no file dpkg -L listed remains');
    for (const dir of ['/etc/vmrouter', '/run/vmrouter', '/usr/share/doc/vmrouter']) t.notOk(existsSync(dir), `${dir} is gone`);
    t.same((await findVmrouterFiles()).filter((p) => !etcFindBefore.includes(p)), [], 'nothing named vmrouter left in /etc, /lib, /usr, /var/lib (systemd links and state included)');
    t.equal((await run(['dpkg-query', '-W', '-f', '${Package}\n'])).stdout, packagesBefore, 'the same packages as before the test');
  });
}

/** Paths named *vmrouter* where a package could leave them (the repository and test namespaces aside). */
async function findVmrouterFiles(): Promise<string[]> {
  const r = await run(['find', '/etc', '/lib', '/usr', '/var/lib', '-name', '*vmrouter*', '-not', '-path', '/etc/netns/*', '-not', '-path', '*/node_modules/*'], { ok: false });
  return r.stdout.split('\n').filter(Boolean).sort();
}
