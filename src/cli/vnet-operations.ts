/**
 * `vmrouter vnet sync`: makes this node's per-VM objects of virtual networks match the placements
 * files. Each VM is its own ledger owner, a dependant of the network's attachment
 * (`vnet:NAME@IFACE/VM`), so a VM that moves changes only its own routes and proxy NDP entries, and
 * `ifdown` of the attachment removes them all (featureDownOp).
 */
import { UsageError } from '../config/errors.js';
import { attachmentOf, KIND, planDeparture, planPlacement } from '../features/vnet.js';
import { featureOwner } from '../features/registry.js';
import type { Ledger } from '../exec/ledger.js';
import type { Decision } from '../exec/runner.js';
import { roleOf, type Placement, type VnetRecord } from '../model/vnet.js';
import type { Operation } from './operations.js';

/** The owner that only carries this sync's announcements of VMs that left (no kernel object). */
const DEPARTED = '-departed';

interface VmRecord {
  name: string;
  vm: string;
  host: string;
  ips: string[];
}

export function vnetSyncOp(records: readonly VnetRecord[], node: string, placementsOf: (v: VnetRecord) => Placement[]): Operation {
  return {
    title: `sync VMs of ${records.map((v) => `vnet ${v.name}`).join(', ')} on ${node}`,
    scope: 'all',
    decide: (ledger: Ledger, mode) => {
      const problems: string[] = [];
      const decisions: Decision[] = [];
      for (const v of records) {
        const role = roleOf(v, node);
        const attachment = attachmentOf(v, node);
        if (!role || !attachment) {
          problems.push(`${node} is neither a host nor a router of [vnet ${v.name}]`);
          continue;
        }
        const owner = featureOwner(KIND, v.name, attachment.iface);
        // a dry run plans as if the network were up (`plan vnet sync` before the first ifup)
        if (!ledger.owners[owner] && mode === 'apply') {
          problems.push(`vnet ${v.name} is not up on ${node}: ifup ${attachment.iface} first`);
          continue;
        }
        const placements = placementsOf(v);
        const wanted = new Set<string>();
        for (const p of placements) {
          const steps = planPlacement(v, node, p);
          if (steps.length === 0) continue;
          const record: VmRecord = { name: v.name, vm: p.vm, host: p.host, ips: p.ips };
          wanted.add(`${owner}/${p.vm}`);
          const entry = { kind: 'feature' as const, feature: KIND, iface: attachment.iface, record };
          decisions.push({ owner: `${owner}/${p.vm}`, desired: { entry, steps } });
        }
        // VMs that left: their objects go; on a host, its bridge tells the VMs still there
        const departed: string[] = [];
        for (const [o, entry] of Object.entries(ledger.owners)) {
          if (!o.startsWith(`${owner}/`) || o === `${owner}/${DEPARTED}`) continue;
          if (!wanted.has(o)) decisions.push({ owner: o, desired: null });
          // with IPv6 a host also holds objects of VMs on other hosts (proxy NDP entries): what
          // departed is a VM recorded as running here that no longer does, whether it still has an owner
          if (role === 'host' && entry.kind === 'feature' && (entry.record as VmRecord).host === node) {
            const r = entry.record as VmRecord;
            const now = placements.find((p) => p.vm === r.vm);
            if (now?.host === node) continue;
            // addresses still on this host under another VM name keep answering by themselves
            const here = new Set(placements.filter((p) => p.host === node).flatMap((p) => p.ips));
            departed.push(...r.ips.filter((a) => !here.has(a) && (now === undefined || now.host !== node)));
          }
        }
        const announcer = `${owner}/${DEPARTED}`;
        const entry = { kind: 'feature' as const, feature: KIND, iface: attachment.iface, record: { name: v.name } };
        if (departed.length > 0) decisions.push({ owner: announcer, desired: { entry, steps: planDeparture(v, departed) } });
        else if (ledger.owners[announcer]) decisions.push({ owner: announcer, desired: null });
      }
      if (problems.length > 0) throw new UsageError(problems.join('\n'));
      // removals first: a VM whose address moved to another VM name frees it before it is taken
      return [...decisions.filter((d) => d.desired === null), ...decisions.filter((d) => d.desired !== null)];
    },
  };
}
