import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { BatchResult, Host } from '../../src/exec/host.js';
import { emptyLedger, LedgerStore, type Ledger } from '../../src/exec/ledger.js';
import { batchOrder, ConflictError, Runner, StepFailed } from '../../src/exec/runner.js';
import type { Desired } from '../../src/exec/transaction.js';
import { element, INET_TABLE } from '../../src/features/nft-skeleton.js';
import { arpAnnouncement } from '../../src/ndp/frames.js';
import type { Network } from '../../src/model/network.js';
import { announce, ip, nft, sysctl, type Step } from '../../src/plan/step.js';

interface Failure {
  /** matched against each line (ip: args joined by spaces; nft: the line; sysctl: the path) */
  line: RegExp;
  message: string;
  /** sysctl writes: throw an error with this code */
  code?: string;
  /** fail this many times, then succeed (default: always) */
  times?: number;
}

/** A host that records every call as text and fails the lines it is told to fail. */
class FakeHost implements Host {
  readonly calls: string[] = [];
  readonly sysctls = new Map<string, string>();
  readonly frames: { dev: string; frame: Buffer }[] = [];
  failures: Failure[] = [];

  private fail(text: string): Failure | undefined {
    const f = this.failures.find((x) => x.line.test(text) && (x.times === undefined || x.times > 0));
    if (f?.times !== undefined) f.times--;
    return f;
  }
  async ipBatch(family: 0 | 4 | 6, lines: string[][]): Promise<BatchResult> {
    this.calls.push(`ip${family ? ` -${family}` : ''} -batch: ${lines.map((l) => l.join(' ')).join(' | ')}`);
    for (const [index, l] of lines.entries()) {
      const f = this.fail(l.join(' '));
      if (f) return { ok: false, index, message: f.message };
    }
    return { ok: true };
  }
  async nft(lines: string[]): Promise<BatchResult> {
    this.calls.push(`nft: ${lines.join(' | ')}`);
    for (const [index, l] of lines.entries()) {
      const f = this.fail(l);
      if (f) return { ok: false, index, message: f.message };
    }
    return { ok: true };
  }
  /** listings: what `queries` holds for the command line, else an empty listing */
  readonly queries = new Map<string, string>();
  async query(file: 'ip' | 'nft', args: string[], input = ''): Promise<string> {
    this.calls.push(`query ${file} ${args.join(' ')}${input ? `: ${input.trim().split('\n').join(' | ')}` : ''}`);
    return this.queries.get(`${file} ${args.join(' ')}`) ?? '';
  }
  readSysctl(path: string): string {
    this.calls.push(`read ${path}`);
    return this.sysctls.get(path) ?? '0';
  }
  writeSysctl(path: string, value: string): void {
    this.calls.push(`write ${path}=${value}`);
    const f = this.fail(path);
    if (f) throw Object.assign(new Error(f.message), f.code ? { code: f.code } : {});
    this.sysctls.set(path, value);
  }
  readLink(dev: string, attribute: 'address' | 'ifindex' | 'flags'): string {
    return attribute === 'address' ? '52:54:00:aa:bb:cc' : dev === 'eth0' ? '2' : '9';
  }
  linkLocals(): string[] {
    return [];
  }
  sendFrame(dev: string, frame: Buffer): void {
    this.frames.push({ dev, frame });
  }
}

/** A runner on a fake host with its ledger in a fresh temporary directory. */
function setup(t: Test): { host: FakeHost; runner: Runner; store: LedgerStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vmrouter-runner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const host = new FakeHost();
  const store = new LedgerStore(dir, { name: null, inode: 1 });
  return { host, runner: new Runner(host, store), store, dir };
}

const want = (tap: string, steps: Step[]): Desired => ({ entry: { kind: 'tap', record: { network: 'public', tap, mac: null, ips: [], ip6s: [] } }, steps });
const release = (): Desired => null;
/** A network owner; the record is opaque to the runner. */
const wantNet = (name: string, steps: Step[]): Desired => ({ entry: { kind: 'feature', feature: 'network', iface: 'eth0', record: { name } as Network }, steps });
/** The inet table, one line long so that call texts stay readable. */
const table = nft([`add table ${INET_TABLE}`], [`delete table ${INET_TABLE}`], 'vmrouter table', { shared: true, provides: INET_TABLE });

const route = (addr: string, extra: { exclusive?: boolean } = {}) =>
  ip(4, ['route', 'add', `${addr}/32`, 'dev', 'tap1', 'table', '222'], ['route', 'del', `${addr}/32`, 'dev', 'tap1', 'table', '222'], `${addr} lives behind tap1`, extra);
const route6 = (addr: string) => ip(6, ['route', 'add', `${addr}/128`, 'dev', 'tap1', 'table', '222'], ['route', 'del', `${addr}/128`, 'dev', 'tap1', 'table', '222'], `${addr} lives behind tap1`);
const vm4 = (addr: string) => element(INET_TABLE, 'vm4', `"tap1" . ${addr}`, null, `tap1 may send from ${addr}`);
const proxyArp = sysctl('net/ipv4/conf/tap1/proxy_arp', '1', '0', 'proxy ARP');
const delay = sysctl('net/ipv4/neigh/tap1/proxy_delay', '0', '80', 'no delay');
const keysOf = (l: Ledger, owner: string): string[] | undefined => l.owners[owner]?.keys;

async function failure(p: Promise<unknown>): Promise<StepFailed> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StepFailed) return e;
    throw e;
  }
  throw new Error('the transaction succeeded');
}

t.test('consecutive ip steps of one family share one ip -batch', async (t) => {
  const { host, runner } = setup(t);
  const link = ip(0, ['link', 'set', 'dev', 'tap1', 'up'], null, 'up');
  const report = await runner.transact('tap:tap1', () =>
    want('tap1', [route('192.0.2.11'), route('192.0.2.12'), route6('2001:db8::11'), route6('2001:db8::12'), route('192.0.2.13'), proxyArp, link]),
  );
  t.strictSame(host.calls, [
    'ip -4 -batch: route add 192.0.2.11/32 dev tap1 table 222 | route add 192.0.2.12/32 dev tap1 table 222',
    'ip -6 -batch: route add 2001:db8::11/128 dev tap1 table 222 | route add 2001:db8::12/128 dev tap1 table 222',
    'ip -4 -batch: route add 192.0.2.13/32 dev tap1 table 222',
    'read net/ipv4/conf/tap1/proxy_arp',
    'write net/ipv4/conf/tap1/proxy_arp=1',
    'ip -batch: link set dev tap1 up',
  ]);
  t.strictSame(report, { created: 7, removed: 0, untouched: 0, warnings: [] });
});

t.test('nft additions and removals never share one nft call', async (t) => {
  const { host, runner } = setup(t);
  await runner.transact('network:public', () => wantNet('public', [table]));
  host.calls.length = 0;
  await runner.transact('tap:tap1', () => want('tap1', [vm4('192.0.2.11'), vm4('192.0.2.12')]));
  await runner.transact('tap:tap1', () => want('tap1', [vm4('192.0.2.13'), vm4('192.0.2.14')]));
  t.strictSame(host.calls, [
    'nft: add element inet vmrouter vm4 { "tap1" . 192.0.2.11 } | add element inet vmrouter vm4 { "tap1" . 192.0.2.12 }',
    'nft: delete element inet vmrouter vm4 { "tap1" . 192.0.2.12 } | delete element inet vmrouter vm4 { "tap1" . 192.0.2.11 }',
    'nft: add element inet vmrouter vm4 { "tap1" . 192.0.2.13 } | add element inet vmrouter vm4 { "tap1" . 192.0.2.14 }',
  ]);
});

t.test('elements whose table vmrouter did not record are still removed', async (t) => {
  // e.g. the table came from expanded stanzas, which record nothing
  const { host, runner, store } = setup(t);
  await runner.transact('tap:tap1', () => want('tap1', [vm4('192.0.2.11'), vm4('192.0.2.12')]));
  await runner.transact('tap:tap1', () => want('tap1', [vm4('192.0.2.13'), vm4('192.0.2.14')]));
  t.strictSame(
    host.calls,
    [
      'nft: add element inet vmrouter vm4 { "tap1" . 192.0.2.11 } | add element inet vmrouter vm4 { "tap1" . 192.0.2.12 }',
      'nft: delete element inet vmrouter vm4 { "tap1" . 192.0.2.12 } | delete element inet vmrouter vm4 { "tap1" . 192.0.2.11 }',
      'nft: add element inet vmrouter vm4 { "tap1" . 192.0.2.13 } | add element inet vmrouter vm4 { "tap1" . 192.0.2.14 }',
    ],
    'the replaced elements are deleted',
  );
  host.calls.length = 0;
  await runner.transact('tap:tap1', release);
  t.strictSame(host.calls, ['nft: delete element inet vmrouter vm4 { "tap1" . 192.0.2.14 } | delete element inet vmrouter vm4 { "tap1" . 192.0.2.13 }'], 'tap down deletes them', {
  });
  t.strictSame(store.load(), emptyLedger({ name: null, inode: 1 }), 'the ledger forgets them either way');
});

t.test("'File exists' on a do: somebody else's object, not recorded", async (t) => {
  const { host, runner, store } = setup(t);
  host.failures = [{ line: /192\.0\.2\.12\//, message: 'RTNETLINK answers: File exists' }];
  const report = await runner.transact('tap:tap1', () => want('tap1', [route('192.0.2.11'), route('192.0.2.12'), route('192.0.2.13')]));
  t.strictSame(host.calls, [
    'ip -4 -batch: route add 192.0.2.11/32 dev tap1 table 222 | route add 192.0.2.12/32 dev tap1 table 222 | route add 192.0.2.13/32 dev tap1 table 222',
    'ip -4 -batch: route add 192.0.2.13/32 dev tap1 table 222',
  ], 'the batch resumes after the existing object');
  t.strictSame(report, { created: 2, removed: 0, untouched: 1, warnings: [] });
  t.strictSame(keysOf(store.load(), 'tap:tap1'), [route('192.0.2.11').key, route('192.0.2.13').key]);
  t.strictSame(Object.keys(store.load().objects), [route('192.0.2.11').key, route('192.0.2.13').key]);
});

t.test("'File exists' on an exclusive ip step fails the transaction", async (t) => {
  const { host, runner, store, dir } = setup(t);
  host.failures = [{ line: /192\.0\.2\.12\//, message: 'RTNETLINK answers: File exists' }];
  const e = await failure(runner.transact('tap:tap1', () => want('tap1', [route('192.0.2.11'), route('192.0.2.12', { exclusive: true }), route('192.0.2.13')])));
  t.equal(e.message, 'ip -4 route add 192.0.2.12/32 dev tap1 table 222 failed: RTNETLINK answers: File exists (192.0.2.12 lives behind tap1)\nnothing was changed: the transaction was rolled back');
  t.strictSame(host.calls, [
    'ip -4 -batch: route add 192.0.2.11/32 dev tap1 table 222 | route add 192.0.2.12/32 dev tap1 table 222 | route add 192.0.2.13/32 dev tap1 table 222',
    'ip -4 -batch: route del 192.0.2.11/32 dev tap1 table 222',
  ]);
  t.strictSame(readdirSync(dir), [], 'no ledger written');
  t.strictSame(store.load().owners, {});
});

t.test('a failure at step k undoes steps 0..k-1 in reverse and leaves the ledger alone', async (t) => {
  const { host, runner, store } = setup(t);
  await runner.transact('tap:tap2', () => want('tap2', [sysctl('net/ipv4/conf/tap2/proxy_arp', '1', '0', 'other')]));
  const before = readFileSync(store.file, 'utf8');
  host.calls.length = 0;
  host.sysctls.set('net/ipv4/neigh/tap1/proxy_delay', '80');
  host.failures = [{ line: /192\.0\.2\.11 \}/, message: 'Error: Could not process rule: No such file or directory' }];

  const e = await failure(runner.transact('tap:tap1', () => want('tap1', [delay, proxyArp, route('192.0.2.11'), route('192.0.2.12'), vm4('192.0.2.11'), route6('2001:db8::11')])));
  t.strictSame(host.calls, [
    'read net/ipv4/neigh/tap1/proxy_delay',
    'write net/ipv4/neigh/tap1/proxy_delay=0',
    'read net/ipv4/conf/tap1/proxy_arp',
    'write net/ipv4/conf/tap1/proxy_arp=1',
    'ip -4 -batch: route add 192.0.2.11/32 dev tap1 table 222 | route add 192.0.2.12/32 dev tap1 table 222',
    'nft: add element inet vmrouter vm4 { "tap1" . 192.0.2.11 }',
    // rollback, newest first
    'ip -4 -batch: route del 192.0.2.12/32 dev tap1 table 222 | route del 192.0.2.11/32 dev tap1 table 222',
    'write net/ipv4/conf/tap1/proxy_arp=0',
    'write net/ipv4/neigh/tap1/proxy_delay=80',
  ]);
  t.equal(e.message, 'nft add element inet vmrouter vm4 { "tap1" . 192.0.2.11 } failed: nft: Error: Could not process rule: No such file or directory (tap1 may send from 192.0.2.11)\nnothing was changed: the transaction was rolled back');
  t.strictSame(e.rollbackProblems, []);
  t.equal(readFileSync(store.file, 'utf8'), before, 'ledger file unchanged');
  t.strictSame(readdirSync(store.dir), ['ledger.json', 'owners'], 'no temporary file or lock left behind');
  t.strictSame(readdirSync(store.ownersDir), ['tap_tap2.json'], 'no owner file for the failed owner');
});

t.test('an incomplete rollback is reported', async (t) => {
  const { host, runner } = setup(t);
  host.failures = [
    { line: /192\.0\.2\.12\//, message: 'RTNETLINK answers: Network is unreachable' },
    { line: /^route del 192\.0\.2\.11\//, message: 'RTNETLINK answers: Operation not permitted' },
  ];
  const e = await failure(runner.transact('tap:tap1', () => want('tap1', [proxyArp, route('192.0.2.11'), route('192.0.2.12')])));
  t.strictSame(e.rollbackProblems, ['ip -4 route add 192.0.2.11/32 dev tap1 table 222: RTNETLINK answers: Operation not permitted']);
  t.equal(
    e.message,
    'ip -4 route add 192.0.2.12/32 dev tap1 table 222 failed: RTNETLINK answers: Network is unreachable (192.0.2.12 lives behind tap1)\nrollback was incomplete:\n  ip -4 route add 192.0.2.11/32 dev tap1 table 222: RTNETLINK answers: Operation not permitted',
  );
  t.equal(host.calls.at(-1), 'write net/ipv4/conf/tap1/proxy_arp=0', 'the rest of the rollback still ran');
});

t.test("'No such process' and 'Cannot find device' on an undo count as gone", async (t) => {
  const { host, runner, store } = setup(t);
  await runner.transact('tap:tap1', () => want('tap1', [proxyArp, route('192.0.2.11'), route('192.0.2.12'), route('192.0.2.13')]));
  host.calls.length = 0;
  host.failures = [
    { line: /^route del 192\.0\.2\.13\//, message: 'RTNETLINK answers: No such process' },
    { line: /^route del 192\.0\.2\.12\//, message: 'Cannot find device "tap1"' },
    { line: /tap1\/proxy_arp/, message: "ENOENT: no such file or directory, open '/proc/sys/net/ipv4/conf/tap1/proxy_arp'", code: 'ENOENT' },
  ];
  const report = await runner.transact('tap:tap1', release);
  t.strictSame(host.calls, [
    'ip -4 -batch: route del 192.0.2.13/32 dev tap1 table 222 | route del 192.0.2.12/32 dev tap1 table 222 | route del 192.0.2.11/32 dev tap1 table 222',
    'ip -4 -batch: route del 192.0.2.12/32 dev tap1 table 222 | route del 192.0.2.11/32 dev tap1 table 222',
    'ip -4 -batch: route del 192.0.2.11/32 dev tap1 table 222',
    'write net/ipv4/conf/tap1/proxy_arp=0',
  ]);
  t.strictSame(report, { created: 0, removed: 1, untouched: 3, warnings: [] });
  t.strictSame(store.load(), emptyLedger({ name: null, inode: 1 }));
  t.strictSame(readdirSync(store.ownersDir), [], "the released owner's file is deleted");
});

t.test('sysctl values are recorded and written back on release', async (t) => {
  const { host, runner, store } = setup(t);
  host.sysctls.set('net/ipv4/neigh/tap1/proxy_delay', '80');
  host.sysctls.set('net/ipv4/conf/tap1/proxy_arp', '1');
  await runner.transact('tap:tap1', () => want('tap1', [delay, proxyArp]));
  t.strictSame(host.calls, ['read net/ipv4/neigh/tap1/proxy_delay', 'write net/ipv4/neigh/tap1/proxy_delay=0', 'read net/ipv4/conf/tap1/proxy_arp'], 'a value already set is not written');
  t.equal(store.load().objects[delay.key]!.restore, '80');
  t.equal(store.load().objects[proxyArp.key]!.restore, '1');
  host.calls.length = 0;
  host.sysctls.set('net/ipv4/conf/tap1/proxy_arp', '1');
  await runner.transact('tap:tap1', release);
  t.strictSame(host.calls, ['write net/ipv4/conf/tap1/proxy_arp=1', 'write net/ipv4/neigh/tap1/proxy_delay=80']);
  t.equal(host.sysctls.get('net/ipv4/neigh/tap1/proxy_delay'), '80');
});

t.test('announcements are sent after the commit; failures are warnings', async (t) => {
  const { host, runner } = setup(t);
  const report = await runner.transact('tap:tap1', () =>
    want('tap1', [route('192.0.2.11'), announce(4, 'eth0', '192.0.2.11', 'garp'), announce(6, 'eth0', '2001:db8::11', 'na')]),
  );
  t.strictSame(host.frames, [{ dev: 'eth0', frame: arpAnnouncement('52:54:00:aa:bb:cc', '192.0.2.11') }]);
  t.strictSame(report.warnings, ['could not announce 2001:db8::11 on eth0: eth0 has no IPv6 link-local address']);
});

/** Steps of one VM on `tap`, with host number `n` (192.0.2.n, 2001:db8::n). */
const vmSteps = (tap: string, n: number): Step[] => [
  sysctl(`net/ipv4/conf/${tap}/proxy_arp`, '1', '0', 'proxy ARP'),
  ip(4, ['route', 'add', `192.0.2.${n}/32`, 'dev', tap, 'table', '222'], ['route', 'del', `192.0.2.${n}/32`, 'dev', tap, 'table', '222'], `192.0.2.${n} lives behind ${tap}`, { exclusive: true }),
  ip(6, ['route', 'add', `2001:db8::${n}/128`, 'dev', tap, 'table', '222'], ['route', 'del', `2001:db8::${n}/128`, 'dev', tap, 'table', '222'], `2001:db8::${n} lives behind ${tap}`, { exclusive: true }),
  element(INET_TABLE, 'vm4', `"${tap}" . 192.0.2.${n}`, null, `${tap} may send from 192.0.2.${n}`),
  element(INET_TABLE, 'taps', `"${tap}"`, null, `${tap} is a vmrouter TAP`),
];
const two = { owners: ['tap:tap1', 'tap:tap2'] };
const additionsOfTwo = [
  'read net/ipv4/conf/tap1/proxy_arp',
  'write net/ipv4/conf/tap1/proxy_arp=1',
  'read net/ipv4/conf/tap2/proxy_arp',
  'write net/ipv4/conf/tap2/proxy_arp=1',
  'ip -4 -batch: route add 192.0.2.11/32 dev tap1 table 222 | route add 192.0.2.21/32 dev tap2 table 222',
  'ip -6 -batch: route add 2001:db8::11/128 dev tap1 table 222 | route add 2001:db8::21/128 dev tap2 table 222',
  'nft: add element inet vmrouter vm4 { "tap1" . 192.0.2.11 } | add element inet vmrouter taps { "tap1" } | add element inet vmrouter vm4 { "tap2" . 192.0.2.21 } | add element inet vmrouter taps { "tap2" }',
];

/** A runner whose ledger has the table (network:public) and one VM on tap3. */
async function setupMany(t: Test) {
  const s = setup(t);
  await s.runner.transact('network:public', () => wantNet('public', [table]));
  await s.runner.transact('tap:tap3', () => want('tap3', vmSteps('tap3', 31)));
  s.host.calls.length = 0;
  const files = () => Object.fromEntries([s.store.file, ...readdirSync(s.store.ownersDir).map((f) => join(s.store.ownersDir, f))].map((f) => [f, readFileSync(f, 'utf8')]));
  return { ...s, files };
}

t.test('transactMany: several owners make one batch per channel, settings first', async (t) => {
  const { host, runner, store } = await setupMany(t);
  const tap3 = join(store.ownersDir, 'tap_tap3.json');
  const tap3Before = { text: readFileSync(tap3, 'utf8'), ino: statSync(tap3).ino };
  const report = await runner.transactMany(() => [{ owner: 'tap:tap1', desired: want('tap1', vmSteps('tap1', 11)) }, { owner: 'tap:tap2', desired: want('tap2', vmSteps('tap2', 21)) }], two);
  t.strictSame(host.calls, additionsOfTwo, 'one ip -4 batch, one ip -6 batch, one nft call, sysctls before routes');
  t.strictSame(report, { created: 10, removed: 0, untouched: 0, warnings: [] });
  const l = store.load();
  t.strictSame(keysOf(l, 'tap:tap1'), vmSteps('tap1', 11).map((s) => s.key));
  t.strictSame(keysOf(l, 'tap:tap2'), vmSteps('tap2', 21).map((s) => s.key));
  t.equal(l.objects['sysctl net/ipv4/conf/tap2/proxy_arp']!.restore, '0', 'outcomes reach the right owner');
  t.equal(l.objects[vmSteps('tap2', 21)[3]!.key]!.home, 'tap:tap2');
  t.strictSame(readdirSync(store.ownersDir).sort(), ['network_public.json', 'tap_tap1.json', 'tap_tap2.json', 'tap_tap3.json']);
  t.strictSame({ text: readFileSync(tap3, 'utf8'), ino: statSync(tap3).ino }, tap3Before, 'an owner out of scope is not rewritten');
});

t.test('transactMany: all removals before all additions, removals in reverse dependency order', async (t) => {
  const { host, runner, store } = await setupMany(t);
  await runner.transact('tap:tap1', () => want('tap1', vmSteps('tap1', 11)));
  host.calls.length = 0;
  const report = await runner.transactMany(() => [{ owner: 'tap:tap1', desired: null }, { owner: 'tap:tap2', desired: want('tap2', vmSteps('tap2', 21)) }], two);
  t.strictSame(host.calls, [
    'nft: delete element inet vmrouter taps { "tap1" } | delete element inet vmrouter vm4 { "tap1" . 192.0.2.11 }',
    'ip -6 -batch: route del 2001:db8::11/128 dev tap1 table 222',
    'ip -4 -batch: route del 192.0.2.11/32 dev tap1 table 222',
    'write net/ipv4/conf/tap1/proxy_arp=0',
    'read net/ipv4/conf/tap2/proxy_arp',
    'write net/ipv4/conf/tap2/proxy_arp=1',
    'ip -4 -batch: route add 192.0.2.21/32 dev tap2 table 222',
    'ip -6 -batch: route add 2001:db8::21/128 dev tap2 table 222',
    'nft: add element inet vmrouter vm4 { "tap2" . 192.0.2.21 } | add element inet vmrouter taps { "tap2" }',
  ]);
  t.strictSame(report, { created: 5, removed: 5, untouched: 0, warnings: [] });
  t.strictSame(readdirSync(store.ownersDir).sort(), ['network_public.json', 'tap_tap2.json', 'tap_tap3.json'], "the released owner's file is deleted");
  t.strictSame(Object.keys(store.load().owners), ['network:public', 'tap:tap3', 'tap:tap2']);
});

t.test("transactMany: a failure in the second owner's step rolls back the first owner's too", async (t) => {
  const { host, runner, files } = await setupMany(t);
  const before = files();
  host.failures = [{ line: /^route add 192\.0\.2\.21\//, message: 'RTNETLINK answers: Network is unreachable' }];
  const e = await failure(
    runner.transactMany(() => [{ owner: 'tap:tap1', desired: want('tap1', vmSteps('tap1', 11)) }, { owner: 'tap:tap2', desired: want('tap2', vmSteps('tap2', 21)) }], two),
  );
  t.strictSame(host.calls, [
    ...additionsOfTwo.slice(0, 5),
    // rollback, newest first
    'ip -4 -batch: route del 192.0.2.11/32 dev tap1 table 222',
    'write net/ipv4/conf/tap2/proxy_arp=0',
    'write net/ipv4/conf/tap1/proxy_arp=0',
  ]);
  t.equal(e.owner, 'tap:tap2');
  t.equal(
    e.message,
    'tap:tap2: ip -4 route add 192.0.2.21/32 dev tap2 table 222 failed: RTNETLINK answers: Network is unreachable (192.0.2.21 lives behind tap2)\nnothing was changed: the transaction was rolled back',
  );
  t.strictSame(files(), before, 'the ledger files are unchanged, and no file appeared');
});

t.test('transactMany: a failed nft transaction rolls back every channel before it', async (t) => {
  const { host, runner, files } = await setupMany(t);
  const before = files();
  host.failures = [{ line: /taps \{ "tap2" \}/, message: 'Error: Could not process rule: Numerical result out of range' }];
  const e = await failure(
    runner.transactMany(() => [{ owner: 'tap:tap1', desired: want('tap1', vmSteps('tap1', 11)) }, { owner: 'tap:tap2', desired: want('tap2', vmSteps('tap2', 21)) }], two),
  );
  t.strictSame(host.calls, [
    ...additionsOfTwo,
    'ip -6 -batch: route del 2001:db8::21/128 dev tap2 table 222 | route del 2001:db8::11/128 dev tap1 table 222',
    'ip -4 -batch: route del 192.0.2.21/32 dev tap2 table 222 | route del 192.0.2.11/32 dev tap1 table 222',
    'write net/ipv4/conf/tap2/proxy_arp=0',
    'write net/ipv4/conf/tap1/proxy_arp=0',
  ]);
  t.match(e.message, /^tap:tap2: nft add element inet vmrouter taps \{ "tap2" \} failed: /);
  t.strictSame(files(), before);
});

t.test('an element whose table the kernel lost: the table is made again from the ledger, and the transaction retried', async (t) => {
  const { host, runner, store } = await setupMany(t);
  // `nft flush ruleset` took the table: the first element added into it fails
  host.failures = [{ line: /vm4 \{ "tap1"/, message: 'Error: Could not process rule: No such file or directory', times: 1 }];
  await runner.transactMany(() => [{ owner: 'tap:tap1', desired: want('tap1', vmSteps('tap1', 11)) }], { owners: ['tap:tap1'] });
  const nft = host.calls.filter((c) => c.startsWith('nft: '));
  t.equal(nft[1], 'nft: add table inet vmrouter', 'after the failure, the table as the ledger has it');
  t.match(nft[2] ?? '', /^nft: add element inet vmrouter vm4 \{ "tap1" \. 192\.0\.2\.11 \}/, 'then the elements again');
  const l = store.load();
  t.ok((keysOf(l, 'tap:tap1') ?? []).length > 0, 'tap1 is bound');
  t.ok(l.objects[`nft table ${INET_TABLE}`]!.generation! > 1, 'a new incarnation of the table: the elements of other TAPs in the old one are gone with it');
  t.equal(l.objects[vmSteps('tap1', 11)[3]!.key]!.generation, l.objects[`nft table ${INET_TABLE}`]!.generation, "tap1's elements are in the new one");
});

t.test('batchOrder: a table before the elements of every owner, whatever the order of the owners', async (t) => {
  const el = element(INET_TABLE, 'taps', '"tap1"', null, 'x');
  const tx = (owner: string, step: typeof table) => ({ owner, actions: [{ op: 'do' as const, step }], announces: [], conflicts: [], settle: () => undefined });
  const order = batchOrder([tx('tap:tap1', el), tx('network:public@eth0', table)]);
  t.same(order.map((x) => x.a.step.key), [table.key, el.key], 'the table first (a TAP listed before its network in the ledger, as after an ifdown and ifup)');
});

t.test('transactMany: conflicts between the owners run nothing', async (t) => {
  const { host, runner, files } = await setupMany(t);
  const before = files();
  const p = runner.transactMany(
    () => [
      { owner: 'tap:tap1', desired: want('tap1', [sysctl('net/ipv4/neigh/eth0/proxy_delay', '0', '80', 'a')]) },
      { owner: 'tap:tap2', desired: want('tap2', [sysctl('net/ipv4/neigh/eth0/proxy_delay', '5', '80', 'b')]) },
    ],
    two,
  );
  await t.rejects(p, new ConflictError(['tap:tap2: net/ipv4/neigh/eth0/proxy_delay=5 is already set differently for tap:tap1']));
  t.strictSame(host.calls, []);
  t.strictSame(files(), before);
});

t.test('transact reads and writes only its own owner file', async (t) => {
  const { runner, store } = await setupMany(t);
  const tap3 = join(store.ownersDir, 'tap_tap3.json');
  const before = { text: readFileSync(tap3, 'utf8'), ino: statSync(tap3).ino };
  let seen: Ledger | undefined;
  await runner.transact('tap:tap1', (l) => ((seen = structuredClone(l)), want('tap1', vmSteps('tap1', 11))));
  t.equal(seen!.owners['tap:tap3']!.keys, undefined, "others' entries are there, without keys");
  t.notOk(Object.keys(seen!.objects).some((k) => k.includes('tap3')), "others' objects are not loaded");
  t.ok(seen!.objects[table.key], 'main objects are');
  t.strictSame({ text: readFileSync(tap3, 'utf8'), ino: statSync(tap3).ino }, before);
});
