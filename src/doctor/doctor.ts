/**
 * `vmrouter doctor` and what `status` and the reconciler share with it: read the kernel, compare
 * it with the ledger (check.ts), and follow each bound VM's addresses the way a packet for it goes
 * (`ip route get ADDRESS mark M`: the network's table, the VM's TAP). Reads only.
 */
import type { Host } from '../exec/host.js';
import { readKernel } from '../exec/kernel-state.js';
import type { Ledger } from '../exec/ledger.js';
import { networksUp } from '../cli/operations.js';
import { tapsBound } from '../cli/tap-operations.js';
import { bgpHealthy, diagnoseBgp, type BgpDiagnosis } from './bgp.js';
import { check, type Finding } from './check.js';

/** A VM address whose route, as the kernel would choose it now, does not lead to its TAP. */
export interface PathFinding {
  tap: string;
  address: string;
  want: string;
  got: string;
}

export interface Diagnosis {
  findings: Finding[];
  paths: PathFinding[];
  /** routing = bgp networks: FRR's sessions and what they carry (null without such networks, or not asked) */
  bgp?: BgpDiagnosis | null;
}

export const healthy = (d: Diagnosis): boolean => d.findings.length === 0 && d.paths.length === 0 && bgpHealthy(d.bgp ?? null);

function sysctlOf(host: Host): (path: string) => string | null {
  return (path) => {
    try {
      return host.readSysctl(path);
    } catch {
      return null;
    }
  };
}

/**
 * Each bound address with its network's mark, through one `ip -batch` per family: the kernel must
 * route it to the TAP in the network's table (rules, marks and host routes together).
 */
async function paths(host: Host, ledger: Ledger, stale: ReadonlySet<string>): Promise<PathFinding[]> {
  const networks = new Map(networksUp(ledger).map((n) => [n.name, n]));
  const out: PathFinding[] = [];
  for (const family of [4, 6] as const) {
    const probes: { tap: string; address: string; table: number; mark: number }[] = [];
    for (const b of tapsBound(ledger)) {
      const n = networks.get(b.network);
      if (!n || n.mark === null || n.table === null || stale.has(`tap:${b.tap}`)) continue;
      for (const a of family === 4 ? b.ips : b.ip6s) probes.push({ tap: b.tap, address: a, table: n.table, mark: n.mark });
    }
    if (probes.length === 0) continue;
    let text = '';
    try {
      text = await host.query('ip', [`-${family}`, '-o', '-batch', '-'], probes.map((p) => `route get ${p.address} mark ${p.mark}`).join('\n') + '\n');
    } catch (e) {
      text = (e as Error).message;
    }
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    probes.forEach((p, i) => {
      const got = lines[i] ?? '(no answer)';
      const ok = new RegExp(`\\bdev ${p.tap.replace(/\./g, '\\.')}\\b.*\\btable ${p.table}\\b`).test(got);
      if (!ok) out.push({ tap: p.tap, address: p.address, want: `dev ${p.tap} table ${p.table}`, got: got.replace(/\s+/g, ' ').trim() });
    });
  }
  return out;
}

/**
 * The ledger's objects against the kernel, without following the VMs' paths. `settings: false`
 * leaves sysctls out (one /proc read each, six per VM): the reconciler's checks on a notification,
 * which sysctls never send, skip them; its periodic check does not.
 */
export async function inspect(host: Host, ledger: Ledger, opts: { settings?: boolean } = {}): Promise<Finding[]> {
  return check({ ledger, kernel: await readKernel(host), sysctl: opts.settings === false ? () => null : sysctlOf(host) });
}

/** `frr`: also ask FRR about the BGP sessions of routing = bgp networks (doctor and status; repair cannot fix them) */
export async function diagnose(host: Host, ledger: Ledger, frr: { vtySocket: string | null } | null = null): Promise<Diagnosis> {
  const findings = await inspect(host, ledger);
  const stale = new Set(findings.flatMap((f) => (f.kind === 'stale' ? [f.owner] : [])));
  const d: Diagnosis = { findings, paths: await paths(host, ledger, stale) };
  return frr ? { ...d, bgp: await diagnoseBgp(host, ledger, frr.vtySocket) } : d;
}
