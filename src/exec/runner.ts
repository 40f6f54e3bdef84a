/**
 * The runner executes a transaction against the host: consecutive iproute2 steps go through one
 * `ip -batch -`, consecutive nft steps through one `nft -f -` transaction, sysctls are written
 * directly. If a step fails, everything this transaction changed is undone in reverse order and the
 * ledger is left as it was, so a failed `up` leaves the node as it found it.
 */
import type { AnnounceStep, HeldStep } from '../plan/step.js';
import { arpAnnouncement, unsolicitedNa } from '../ndp/frames.js';
import type { Host } from './host.js';
import { LedgerStore, type Ledger, type Scope } from './ledger.js';
import { check } from '../doctor/check.js';
import { nftTables, readKernel } from './kernel-state.js';
import { computeTransaction, describe, type Action, type Desired, type Outcome, type TxPlan } from './transaction.js';

/** "already there": the object exists and somebody else made it */
const EXISTS = /File exists|already assigned|already exists/i;
/** "already gone": removing something the kernel no longer has (e.g. it went with its device) */
const GONE = /No such process|No such file or directory|Address not found|Cannot find device|Cannot assign requested address|does not exist/i;

export class StepFailed extends Error {
  readonly exitCode = 1;
  constructor(
    readonly step: HeldStep,
    readonly detail: string,
    readonly rollbackProblems: string[],
    /** in a transaction of several owners, whose step it was */
    readonly owner?: string,
  ) {
    super(
      `${owner ? `${owner}: ` : ''}${describe(step)} failed: ${detail} (${step.why})` +
        (rollbackProblems.length ? `\nrollback was incomplete:\n  ${rollbackProblems.join('\n  ')}` : '\nnothing was changed: the transaction was rolled back'),
    );
    this.name = 'StepFailed';
  }
}

export class ConflictError extends Error {
  readonly exitCode = 1;
  constructor(readonly conflicts: string[]) {
    super(conflicts.join('\n'));
    this.name = 'ConflictError';
  }
}

export interface Report {
  created: number;
  removed: number;
  /** objects that already existed (not vmrouter's) or were already gone */
  untouched: number;
  warnings: string[];
}

interface ExecResult {
  outcomes: Outcome[];
  failure?: { index: number; message: string };
}

export interface TransactOptions {
  /** read the kernel first and make again what the ledger holds but the kernel lost (see transactMany) */
  verify?: boolean;
  /** the keys to make again, already known (the reconciler has just read the kernel) */
  redo?: ReadonlySet<string>;
}

export interface Decision {
  owner: string;
  desired: Desired;
}

type Channel = 'ip0' | 'ip4' | 'ip6' | 'nft-do' | 'nft-undo' | 'sysctl' | 'mac' | 'link-up';

/** Consecutive actions of one channel run as one batch; nft additions and removals never share one. */
const channel = (a: Action): Channel => (a.step.kind === 'ip' ? (`ip${a.step.family}` as Channel) : a.step.kind === 'nft' ? `nft-${a.op}` : a.step.kind);

/** VMROUTER_TIMING=1: phase durations on standard error (for bench/, not for operators). */
const timing = process.env.VMROUTER_TIMING === '1';
let last = performance.now();
function phase(name: string): void {
  if (!timing) return;
  const now = performance.now();
  process.stderr.write(`vmrouter timing: ${name} ${(now - last).toFixed(1)} ms\n`);
  last = now;
}

export class Runner {
  constructor(
    readonly host: Host,
    readonly store: LedgerStore,
  ) {}

  /**
   * Makes `owner` hold exactly the objects `decide` returns (null: none), under the lock. `decide`
   * sees the ledger as it is once the lock is held, so it can refuse (e.g. "network is not up").
   */
  async transact(owner: string, decide: (ledger: Ledger) => Desired): Promise<Report> {
    return this.transactMany((ledger) => [{ owner, desired: decide(ledger) }], { owners: [owner] });
  }

  /**
   * Several owners in one transaction (`tap sync`): all their actions run as a few batches, and a
   * failure anywhere rolls back everything. `scope` says whose ledger files `decide` may touch.
   *
   * `verify` (applying what is already applied: `ifup --force`, `up`, `tap up` of a bound TAP,
   * `repair`): the kernel is read first, and what the ledger holds but the kernel lost or changed is
   * made again (TxOptions.redo). Whatever `verify` says, an element whose nft table the kernel lost
   * (`nft flush ruleset`, a reload of nftables.service) makes the table again from the ledger and
   * the transaction retried once, rather than failing.
   */
  async transactMany(decide: (ledger: Ledger) => Decision[], scope: Scope, opts: TransactOptions = {}): Promise<Report> {
    phase('start');
    return this.store.withLock(async () => {
      phase('lock');
      try {
        return await this.attempt(decide, scope, opts, null);
      } catch (e) {
        if (!(e instanceof LostTable)) throw e;
        return this.attempt(decide, scope, opts, e.table);
      }
    });
  }

  private async attempt(decide: (ledger: Ledger) => Decision[], scope: Scope, opts: TransactOptions, lost: string | null): Promise<Report> {
    const ledger = this.store.load(scope);
    phase('load ledger');
    const decisions = decide(ledger);
    phase('decide');
    const redo = new Set<string>(opts.redo ?? []);
    if (opts.verify && !opts.redo && decisions.some((d) => ledger.owners[d.owner] !== undefined)) {
      const kernel = await readKernel(this.host);
      const sysctl = (path: string) => {
        try {
          return this.host.readSysctl(path);
        } catch {
          return null;
        }
      };
      for (const f of check({ ledger, kernel, sysctl })) if (f.kind === 'missing' || f.kind === 'differs') redo.add(f.key);
      phase('read kernel');
    }
    if (lost !== null) redo.add(`nft table ${lost}`);
    // Tables the decisions' elements live in, gone from the kernel: made again before anything
    // else, held by whoever holds them (a network, for a TAP's elements); their elements in the
    // ledger are of the old incarnation now, so the owners of this transaction add theirs again.
    const pre: Action[] = [];
    const within = new Set(decisions.flatMap((d) => (d.desired?.steps ?? []).flatMap((st) => (st.kind === 'nft' && st.within ? [st.within] : []))));
    for (const table of within) {
      const obj = ledger.objects[`nft table ${table}`];
      if (!obj || !redo.has(obj.step.key) || decisions.some((d) => d.desired?.steps.some((st) => st.key === obj.step.key))) continue;
      redo.delete(obj.step.key);
      obj.generation = ++ledger.generation;
      pre.push({ op: 'do', step: obj.step });
    }
    const whole = new Set<string>();
    for (const key of redo) {
      const table = ledger.objects[key]?.step;
      if (table?.kind !== 'nft' || !table.provides) continue;
      const within = Object.entries(ledger.objects).filter(([, o]) => o.step.kind === 'nft' && o.step.within === table.provides);
      if (within.every(([k]) => redo.has(k))) whole.add(key);
    }
    const txs = decisions.map((d) => computeTransaction(ledger, d.owner, d.desired, { redo, whole }));
    phase('compute');
    const conflicts = txs.flatMap((tx) => tx.conflicts.map((c) => (txs.length > 1 ? `${tx.owner}: ${c}` : c)));
    if (conflicts.length > 0) throw new ConflictError(conflicts);
    const order = [...pre.map((a, i) => ({ a, tx: -1, i })), ...(txs.length === 1 ? txs[0]!.actions.map((a, i) => ({ a, tx: 0, i })) : batchOrder(txs))];
    const actions = order.map((x) => x.a);
    const result = await this.execute(actions);
    if (result.failure) {
      const done = actions.map((a, i) => ({ action: a, outcome: result.outcomes[i]! })).filter((x) => x.outcome?.status === 'done');
      const problems = await this.rollback(done);
      const failed = order[result.failure.index]!;
      const error = new StepFailed(failed.a.step, result.failure.message, problems, failed.tx >= 0 && txs.length > 1 ? txs[failed.tx]!.owner : undefined);
      const table = lostTable(error);
      // the ledger knows the table: make it again and try once more (transactMany)
      if (table !== null && lost === null && problems.length === 0 && ledger.objects[`nft table ${table}`]) throw new LostTable(table);
      throw error;
    }
    const perTx = txs.map((tx) => new Array<Outcome>(tx.actions.length));
    order.forEach((x, k) => x.tx >= 0 && (perTx[x.tx]![x.i] = result.outcomes[k]!));
    txs.forEach((tx, t) => tx.settle(perTx[t]!));
    await this.fingerprint(ledger, actions.filter((a, i) => a.op === 'do' && a.step.kind === 'nft' && a.step.provides && result.outcomes[i]?.status === 'done'));
    this.store.save(ledger);
    phase('save ledger');
    const warnings = this.announce(txs.flatMap((tx) => tx.announces));
    phase('announce');
    const count = (op: Action['op'], status: Outcome['status']) => actions.filter((a, i) => a.op === op && result.outcomes[i]?.status === status).length;
    return {
      created: count('do', 'done'),
      removed: count('undo', 'done'),
      untouched: count('do', 'foreign') + count('undo', 'gone'),
      warnings,
    };
  }

  /** Tables just made: their chains and rules as the kernel lists them, for doctor to compare with later. */
  private async fingerprint(ledger: Ledger, made: Action[]): Promise<void> {
    for (const a of made) {
      const table = (a.step as { provides: string }).provides;
      const obj = ledger.objects[`nft table ${table}`];
      if (!obj) continue;
      try {
        // terse: without the elements of its sets, which the fingerprint leaves out anyway
        obj.fingerprint = nftTables(await this.host.query('nft', ['-j', '-t', 'list', 'table', ...table.split(' ')])).get(table)?.fingerprint;
      } catch {
        delete obj.fingerprint; // not listable now: doctor checks that it exists, not its chains
      }
    }
  }

  /** Runs actions in order, batching consecutive ones of the same channel; stops at the first failure. */
  async execute(actions: Action[]): Promise<ExecResult> {
    const outcomes: Outcome[] = [];
    let i = 0;
    while (i < actions.length) {
      const ch = channel(actions[i]!);
      let j = i;
      while (j < actions.length && channel(actions[j]!) === ch) j++;
      const group = actions.slice(i, j);
      const r = await this.executeGroup(ch, group);
      phase(`${group[0]!.op} ${ch} x${group.length}`);
      outcomes.push(...r.outcomes);
      if (r.failure) return { outcomes, failure: { index: i + r.failure.index, message: r.failure.message } };
      i = j;
    }
    return { outcomes };
  }

  private async executeGroup(ch: Channel, group: Action[]): Promise<ExecResult> {
    switch (ch) {
      case 'ip0':
      case 'ip4':
      case 'ip6':
        return this.executeIp(Number(ch.slice(2)) as 0 | 4 | 6, group);
      case 'nft-do':
      case 'nft-undo':
        return this.executeNft(group);
      default:
        return this.executeOneByOne(group);
    }
  }

  private async executeIp(family: 0 | 4 | 6, group: Action[]): Promise<ExecResult> {
    const outcomes: Outcome[] = new Array(group.length);
    let start = 0;
    while (start < group.length) {
      // Steps with nothing to run (removed by the kernel together with another object) are skipped.
      const pending: number[] = [];
      for (let k = start; k < group.length; k++) {
        const a = group[k]!;
        const line = ipLine(a);
        if (line === null) outcomes[k] = { status: 'gone' };
        else pending.push(k);
      }
      if (pending.length === 0) break;
      const r = await this.host.ipBatch(family, pending.map((k) => ipLine(group[k]!)!));
      if (r.ok) {
        for (const k of pending) outcomes[k] = { status: 'done' };
        break;
      }
      const failedAt = r.index ?? 0;
      pending.slice(0, failedAt).forEach((k) => (outcomes[k] = { status: 'done' }));
      const k = pending[failedAt]!;
      const a = group[k]!;
      if (a.op === 'do' && EXISTS.test(r.message) && !(a.step.kind === 'ip' && a.step.exclusive)) outcomes[k] = { status: 'foreign' };
      else if (a.op === 'undo' && GONE.test(r.message)) outcomes[k] = { status: 'gone' };
      else return { outcomes: outcomes.slice(0, k), failure: { index: k, message: r.message } };
      start = k + 1;
    }
    return { outcomes };
  }

  private async executeNft(group: Action[]): Promise<ExecResult> {
    const scripts = group.map((a) => (a.op === 'do' ? (a.step as { add: string[] }).add : (a.step as { undo: string[] }).undo));
    const r = await this.host.nft(scripts.flat());
    if (r.ok) return { outcomes: group.map(() => ({ status: 'done' })) };
    if (group.length === 1 || group[0]!.op === 'undo') {
      // Removals: retry one by one so that elements already gone (with their TAP's table, say) are
      // not an error.
      const outcomes: Outcome[] = [];
      for (const [k, a] of group.entries()) {
        const one = group.length === 1 ? r : await this.host.nft(scripts[k]!);
        if (one.ok) outcomes.push({ status: 'done' });
        else if (a.op === 'undo' && GONE.test(one.message)) outcomes.push({ status: 'gone' });
        else return { outcomes, failure: { index: k, message: `nft: ${one.message}` } };
      }
      return { outcomes };
    }
    // The transaction was atomic: nothing of it applied. Name the step whose line failed.
    let line = r.index ?? 0;
    let k = 0;
    while (k < scripts.length - 1 && line >= scripts[k]!.length) line -= scripts[k++]!.length;
    return { outcomes: [], failure: { index: k, message: `nft: ${r.message}` } };
  }

  private async executeOneByOne(group: Action[]): Promise<ExecResult> {
    const outcomes: Outcome[] = [];
    for (const [k, a] of group.entries()) {
      try {
        outcomes.push(await this.executeSetting(a));
      } catch (e) {
        const message = (e as Error).message;
        if (a.op === 'undo' && ((e as NodeJS.ErrnoException).code === 'ENOENT' || GONE.test(message))) outcomes.push({ status: 'gone' });
        else return { outcomes, failure: { index: k, message } };
      }
    }
    return { outcomes };
  }

  /** sysctl and MAC: remember what was there, so removal can put it back. */
  private async executeSetting(a: Action): Promise<Outcome> {
    const s = a.step;
    if (s.kind === 'sysctl') {
      if (a.op === 'undo') {
        this.host.writeSysctl(s.path, a.restore ?? s.fallback);
        return { status: 'done' };
      }
      const restore = this.host.readSysctl(s.path);
      if (restore !== s.value) this.host.writeSysctl(s.path, s.value);
      return { status: 'done', restore };
    }
    if (s.kind === 'link-up') {
      const up = (Number(this.host.readLink(s.dev, 'flags')) & 1) === 1;
      const want = a.op === 'do' || a.restore !== 'down';
      if (up !== want) {
        const r = await this.host.ipBatch(0, [['link', 'set', 'dev', s.dev, want ? 'up' : 'down']]);
        if (!r.ok) throw new Error(r.message);
      }
      return a.op === 'do' ? { status: 'done', restore: up ? 'up' : 'down' } : { status: 'done' };
    }
    if (s.kind === 'mac') {
      const target = a.op === 'undo' ? a.restore : s.mac;
      const restore = this.host.readLink(s.dev, 'address');
      if (target && target !== restore) {
        const r = await this.host.ipBatch(0, [['link', 'set', 'dev', s.dev, 'address', target]]);
        if (!r.ok) throw new Error(r.message);
      }
      return a.op === 'do' ? { status: 'done', restore } : { status: 'done' };
    }
    throw new Error(`no executor for ${s.kind}`);
  }

  /** Undo what a failed transaction did, newest first; report (not throw) what could not be undone. */
  private async rollback(done: { action: Action; outcome: Outcome }[]): Promise<string[]> {
    const inverse: Action[] = done.reverse().map(({ action, outcome }) =>
      action.op === 'do'
        ? { op: 'undo', step: action.step, ...(outcome.status === 'done' && outcome.restore !== undefined ? { restore: outcome.restore } : {}) }
        : { op: 'do', step: action.step },
    );
    const problems: string[] = [];
    let rest = inverse;
    while (rest.length > 0) {
      const r = await this.execute(rest);
      if (!r.failure) break;
      problems.push(`${describe(rest[r.failure.index]!.step)}: ${r.failure.message}`);
      rest = rest.slice(r.failure.index + 1);
    }
    return problems;
  }

  /** Best effort: a VM is reachable without its announcement, only slower to be re-learned. */
  private announce(steps: AnnounceStep[]): string[] {
    const warnings: string[] = [];
    // per device, read once: a sync announces thousands of addresses on the same uplink
    const macs = new Map<string, string>();
    const linkLocals = new Map<string, string | undefined>();
    for (const s of steps) {
      try {
        if (!macs.has(s.dev)) macs.set(s.dev, this.host.readLink(s.dev, 'address'));
        const senderMac = macs.get(s.dev)!;
        if (s.family === 4) this.host.sendFrame(s.dev, arpAnnouncement(senderMac, s.address));
        else {
          if (!linkLocals.has(s.dev)) linkLocals.set(s.dev, this.host.linkLocals(s.dev)[0]);
          const source = linkLocals.get(s.dev);
          if (!source) throw new Error(`${s.dev} has no IPv6 link-local address`);
          this.host.sendFrame(s.dev, unsolicitedNa(senderMac, source, s.address));
        }
      } catch (e) {
        warnings.push(`could not announce ${s.address} on ${s.dev}: ${(e as Error).message}`);
      }
    }
    return warnings;
  }
}

/** An element's nft table is gone from the kernel, though the ledger holds it. */
class LostTable extends Error {
  constructor(readonly table: string) {
    super(`nft table ${table} is gone`);
  }
}

/** The table a failed element went into when the kernel no longer has that table; null for other failures. */
function lostTable(e: unknown): string | null {
  if (!(e instanceof StepFailed) || e.step.kind !== 'nft' || !e.step.within) return null;
  return /No such file or directory/.test(e.detail) ? e.step.within : null;
}

/** The iproute2 batch line of an action, or null when there is nothing to run. */
function ipLine(a: Action): string[] | null {
  const s = a.step;
  if (s.kind !== 'ip') throw new Error('not an ip step');
  return a.op === 'do' ? s.args : s.undo;
}

/** Removals before additions, each grouped by channel in dependency order, keeping each owner's order within a channel. */
const RANK: Record<string, number> = {
  'undo nft-undo': 0, 'undo ip6': 1, 'undo ip4': 2, 'undo ip0': 3, 'undo sysctl': 4, 'undo mac': 5, 'undo link-up': 5.5,
  'do link-up': 5.7, 'do mac': 6, 'do sysctl': 7, 'do ip0': 8, 'do ip4': 9, 'do ip6': 10, 'do nft-do': 11,
};

/** The actions of several owners in an order that makes few, large batches. */
export function batchOrder(txs: TxPlan[]): { a: Action; tx: number; i: number }[] {
  // a table before any element of any owner: both are one nft batch, whose lines run in order
  const rankOf = (a: Action) => RANK[`${a.op} ${channel(a)}`]! - (a.op === 'do' && a.step.kind === 'nft' && a.step.provides ? 0.5 : 0);
  const all = txs.flatMap((tx, t) => tx.actions.map((a, i) => ({ a, tx: t, i, rank: rankOf(a) })));
  return all.sort((x, y) => x.rank - y.rank || x.tx - y.tx || x.i - y.i).map(({ a, tx, i }) => ({ a, tx, i }));
}
