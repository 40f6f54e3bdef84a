/**
 * `vmrouter reconcile`: keeps the kernel as the ledger says vmrouter applied it. Another tool will
 * flush, reload or edit what vmrouter owns (`nftables.service` starts with `flush ruleset`); the
 * reconciler notices — netlink notifications through `ip monitor` (rules, routes, proxy
 * neighbours, links, addresses, netconf) and nft's through `nft monitor`, plus a full check every
 * `interval` as a safety net (sysctls such as proxy_arp send no notification) — and runs the same
 * repair as `vmrouter repair`.
 *
 * It never fights an operator: a repair is a transaction under the ledger's lock, so a `tap down`
 * or `ifdown` in progress finishes first, and what it removed is no longer in the ledger to be
 * made again. A kernel that keeps refusing a step, or something that undoes each repair within a
 * second, gets exponential backoff (1 s … 5 min) and one log line per attempt, not a busy loop.
 */
import { inspect } from '../doctor/doctor.js';
import type { Finding } from '../doctor/check.js';
import { ipMonitorRelevant, nftMonitorRelevant, watch, type Watcher } from '../exec/monitor.js';
import type { Runner } from '../exec/runner.js';
import { repairOp } from '../cli/operations.js';

export interface ReconcilerOptions {
  runner: Runner;
  log: (line: string) => void;
  /** the periodic full check, ms */
  intervalMs: number;
  /** a burst of notifications is one check: wait this long after the last, ms */
  settleMs?: number;
}

const what = (f: Finding): string => (f.kind === 'stale' ? f.what : f.kind === 'unowned' ? '' : f.what);
const actionable = (findings: Finding[]): Finding[] => findings.filter((f) => f.kind !== 'unowned');

export class Reconciler {
  private watchers: Watcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private interval: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;
  /** the next check reads the sysctls too (the periodic one, or one asked for while running) */
  private full = true;
  private failures = 0;
  private notBefore = 0;
  private lastRepair = 0;
  private rapid = 0;
  /** checks run and repairs made, for tests and the log */
  readonly counts = { checks: 0, repairs: 0 };

  constructor(private readonly opts: ReconcilerOptions) {}

  start(): void {
    const settle = this.opts.settleMs ?? 30;
    const poke = () => this.schedule(settle);
    this.watchers = [
      watch('ip', ['monitor', 'label', 'rule', 'route', 'neigh', 'link', 'address', 'netconf'], ipMonitorRelevant, poke, this.opts.log),
      watch('nft', ['monitor'], nftMonitorRelevant, poke, this.opts.log),
    ];
    this.interval = setInterval(() => this.schedule(0, true), this.opts.intervalMs);
    this.schedule(0, true);
  }

  stop(): void {
    for (const w of this.watchers) w.stop();
    if (this.timer) clearTimeout(this.timer);
    if (this.interval) clearInterval(this.interval);
  }

  private schedule(delay: number, full = false): void {
    this.full ||= full;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), Math.max(delay, this.notBefore - Date.now()));
  }

  private async run(): Promise<void> {
    this.timer = null;
    this.running = true;
    try {
      await this.reconcile();
    } catch (e) {
      this.opts.log(`check failed: ${(e as Error).message}`);
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.schedule(this.opts.settleMs ?? 30);
      }
    }
  }

  private async reconcile(): Promise<void> {
    this.counts.checks++;
    const { runner } = this.opts;
    // the objects only: a VM's path, as doctor follows it, is not something a repair can change
    const settings = this.full;
    this.full = false;
    const findings = actionable(await inspect(runner.host, runner.store.load(), { settings }));
    if (findings.length === 0) return;
    // something keeps undoing the repairs (three times, each within a second): do not race it
    this.rapid = Date.now() - this.lastRepair < 1000 ? this.rapid + 1 : 0;
    if (this.rapid >= 3) this.backoff(`${findings.length} differences came back within a second of each of the last ${this.rapid} repairs`);
    if (Date.now() < this.notBefore) return this.schedule(0);
    const started = performance.now();
    const stale = new Set(findings.flatMap((f) => (f.kind === 'stale' ? [f.owner] : [])));
    const redo = new Set(findings.flatMap((f) => (f.kind === 'missing' || f.kind === 'differs' ? [f.key] : [])));
    try {
      // under the ledger's lock, from the ledger as it is then: an owner released meanwhile is not made again
      await runner.transactMany((l) => repairOp(stale).decide(l, 'apply'), 'all', { redo });
    } catch (e) {
      this.backoff(`repair failed: ${(e as Error).message.split('\n')[0]}`);
      return this.schedule(0);
    }
    this.lastRepair = Date.now();
    this.counts.repairs++;
    this.failures = 0;
    const list = findings.slice(0, 8).map(what).join('; ') + (findings.length > 8 ? `; and ${findings.length - 8} more` : '');
    this.opts.log(`restored ${findings.length} in ${(performance.now() - started).toFixed(0)} ms: ${list}`);
  }

  private backoff(reason: string): void {
    this.failures++;
    const seconds = Math.min(2 ** (this.failures - 1), 300);
    this.notBefore = Date.now() + seconds * 1000;
    this.opts.log(`${reason}; next attempt in ${seconds} s (attempt ${this.failures})`);
  }
}
