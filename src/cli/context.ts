/** What every command shares: global options, the runner, the configuration, and output. */
import { UsageError } from '../config/errors.js';
import { DEFAULT_CONFIG, parseFullConfig, readConfigText, type Config } from '../config/load.js';
import type { Feature, FeatureRecord } from '../features/feature.js';
import { PlanCache, planKey, type CachedAttachment } from '../exec/plan-cache.js';
import { keptRecord } from '../features/registry.js';
import { VERSION } from '../version.js';
import { networksIn, type Network } from '../model/network.js';
import { RealHost, type Host } from '../exec/host.js';
import { detectKernel, type KernelReport } from '../exec/kernel.js';
import { emptyLedger, LedgerStore, type Ledger } from '../exec/ledger.js';
import { batchOrder, Runner } from '../exec/runner.js';
import { computeTransaction } from '../exec/transaction.js';
import { currentNetns, defaultStateDir } from '../exec/state-dir.js';
import { renderTxPlan } from '../render/plan.js';
import type { Operation } from './operations.js';

export interface GlobalOptions {
  config: string;
  stateDir?: string;
  debug?: boolean;
  verbose?: boolean;
}

export interface RunOptions {
  dryRun?: boolean;
  /** with dryRun: as if vmrouter had applied nothing on this node */
  fromScratch?: boolean;
  /** with dryRun: operations assumed done first, not printed (`plan down --from-scratch`) */
  assumeDone?: Operation[];
}

export class Context {
  private runnerInstance: Runner | null = null;
  private configCache: Config | null = null;
  private configTextCache: string | null = null;
  private kernelCache: KernelReport | null = null;
  constructor(
    readonly globals: GlobalOptions,
    readonly out: (text: string) => void = (t) => process.stdout.write(t),
    readonly err: (text: string) => void = (t) => process.stderr.write(t),
  ) {}

  get host(): Host {
    return this.runner.host;
  }

  get runner(): Runner {
    if (!this.runnerInstance) {
      const ns = currentNetns();
      this.runnerInstance = new Runner(new RealHost(), new LedgerStore(this.globals.stateDir ?? defaultStateDir(ns), ns));
    }
    return this.runnerInstance;
  }

  private configOverride: string | null = null;

  private get configFile(): string {
    return this.configOverride ?? this.globals.config ?? DEFAULT_CONFIG;
  }

  /** The hook: the stanza names its configuration file (vmrouter-config); before anything is read. */
  useConfigFile(file: string): void {
    if (this.configTextCache !== null) throw new Error('the configuration was read already');
    this.configOverride = file;
  }

  /** The configuration file's text (read once). */
  configText(): string {
    this.configTextCache ??= readConfigText(this.configFile);
    return this.configTextCache;
  }

  /** The configuration file, verified (read once). */
  config(): Config {
    this.configCache ??= parseFullConfig(this.configText(), this.configFile);
    return this.configCache;
  }

  /**
   * What `ifup IFACE` applies for `[KIND NAME]`: from the plans of this very configuration when an
   * earlier hook run stored them (exec/plan-cache.ts), else verified and planned now, every
   * interface of the section at once, and stored for the next runs.
   */
  featureAttachment(feature: Feature<FeatureRecord>, name: string, iface: string): CachedAttachment {
    const option = `vmrouter-${feature.kind}`;
    const kernel = feature.usesKernel ? this.kernel() : undefined;
    const key = planKey([VERSION, JSON.stringify(kernel ? { vrf: kernel.vrf } : null), this.configFile, this.configText()]);
    const cache = new PlanCache(this.runner.store.dir);
    const cached = cache.read(key, feature.kind, name, iface);
    if (cached) return cached;
    const record = this.config().features.get(feature.kind)?.find((r) => r.name === name);
    if (!record) throw new UsageError(`${iface}: ${option} ${name}: no [${feature.kind} ${name}] section in ${this.configFile}`);
    const kept = keptRecord(feature, record);
    const all = feature.attach(record, kernel).map((attachment) => ({ kept, attachment }));
    const mine = all.find((a) => a.attachment.iface === iface);
    if (!mine) throw new UsageError(`${iface}: ${option} ${name}: [${feature.kind} ${name}] in ${this.configFile} does not attach to ${iface} (it does to ${all.map((a) => a.attachment.iface).join(', ') || 'no interface'})`);
    try {
      cache.write(key, feature.kind, name, all);
    } catch {
      /* a plan that cannot be stored costs the next run time, nothing else */
    }
    return mine;
  }

  /** What the running kernel offers (VRF or not), read once; features plan with it. */
  kernel(): KernelReport {
    this.kernelCache ??= detectKernel();
    return this.kernelCache;
  }

  /** The routed networks of the configuration file. */
  networks(): Network[] {
    return networksIn(this.config().features);
  }

  /** The configured networks, or [] when the file does not exist (the hooks work without it). */
  networksIfConfigured(): Network[] {
    try {
      return this.networks();
    } catch (e) {
      if (e instanceof Error && /cannot read: no such file/.test(e.message)) return [];
      throw e;
    }
  }

  /**
   * Prints what the operations would run, each planned on the ledger the previous ones would leave
   * (so objects shared by several networks are created once and removed with the last).
   */
  preview(ops: Operation[], opts: RunOptions): void {
    const ledger: Ledger = opts.fromScratch ? emptyLedger(this.runner.store.netns) : this.runner.store.load('all');
    for (const op of opts.assumeDone ?? []) for (const d of op.decide(ledger, 'preview')) computeTransaction(ledger, d.owner, d.desired);
    for (const op of ops) {
      const txs = op.decide(ledger, 'preview').map((d) => computeTransaction(ledger, d.owner, d.desired));
      const actions = txs.length === 1 ? txs[0]!.actions : batchOrder(txs).map((x) => x.a);
      this.out(renderTxPlan(op.title, { actions, announces: txs.flatMap((tx) => tx.announces) }));
      for (const c of txs.flatMap((tx) => tx.conflicts)) this.out(`# conflict, would fail: ${c}\n`);
    }
  }

  async run(ops: Operation[], opts: RunOptions = {}): Promise<void> {
    if (opts.dryRun) return this.preview(ops, opts);
    for (const op of ops) {
      const report = await this.runner.transactMany((l) => op.decide(l, 'apply'), op.scope, { verify: op.verify === true });
      for (const w of report.warnings) this.err(`vmrouter: warning: ${w}\n`);
      if (this.globals.verbose) {
        this.err(`vmrouter: ${op.title}: ${report.created} created, ${report.removed} removed${report.untouched ? `, ${report.untouched} left alone (not vmrouter's, or already gone)` : ''}\n`);
      }
    }
  }
}
