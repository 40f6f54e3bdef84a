/**
 * The numbers vmrouter shares with the kernel and other managers on a node: routing table ids and
 * policy-rule preferences. Pure: the allocator hands out ids for features that did not choose one,
 * and the linter finds orderings that silently break routing (a mark rule after the l3mdev rule
 * never sees traffic of an enslaved device).
 *
 * Kernel conventions (include/uapi/linux/rtnetlink.h RT_TABLE_*, net/core/fib_rules.c and
 * net/l3mdev/l3mdev.c; https://docs.kernel.org/networking/vrf.html):
 *   tables 0 unspec, 253 default, 254 main, 255 local are reserved;
 *   rule 0 `lookup local`, 1000 `l3mdev` (added with the first VRF device), 32766 main, 32767 default.
 */

export const RESERVED_TABLES: ReadonlyMap<number, string> = new Map([
  [0, 'unspec'],
  [253, 'default'],
  [254, 'main'],
  [255, 'local'],
]);

export const PREF_LOCAL = 0;
export const PREF_L3MDEV = 1000;
export const PREF_MAIN = 32766;
export const PREF_DEFAULT = 32767;

/**
 * Numbers other managers put on nodes like ours, as their documentation and sources state them; a
 * vmrouter id inside one is not an error (the node may not run that software) but worth a warning.
 */
export const FOREIGN: readonly { who: string; tables?: readonly [number, number]; prefs?: readonly [number, number] }[] = [
  { who: 'Tailscale (table 52, rules 5210-5310)', tables: [52, 52], prefs: [5210, 5310] },
  { who: 'wg-quick (table 51820)', tables: [51820, 51820] },
  { who: 'Cilium (tables 2004-2005, rules 9-100)', tables: [2004, 2005], prefs: [9, 100] },
];

/** Where vmrouter allocates for features that did not set `table`/`priority` (routed networks always set theirs). */
export const TWIN_TABLES: readonly [number, number] = [3100, 3999];
/** [vrf NAME] sections without `table` */
export const VRF_TABLES: readonly [number, number] = [3000, 3099];
/** Twin rules must win before the l3mdev rule (seed 001: "rules that must win go before priority 1000"). */
export const TWIN_PREF = 900;

/** The lowest id of `range` not in `taken`, or null when the range is full. */
export function allocate(range: readonly [number, number], taken: ReadonlySet<number>, count = 1): number[] | null {
  const out: number[] = [];
  for (let id = range[0]; id <= range[1] && out.length < count; id++) if (!taken.has(id)) out.push(id);
  return out.length === count ? out : null;
}

/** One user of the rule and table space, as the linter sees it. */
export interface RuleUser {
  /** e.g. "[twin io] inner" or "[network public]" */
  who: string;
  tables: readonly number[];
  /** preferences of its rules and whether the rule selects by fwmark */
  rules: readonly { pref: number; mark: boolean }[];
  /** its traffic arrives on a VRF-enslaved device (so the l3mdev rule would claim it) */
  vrf: boolean;
}

/** Hazards in how the users share the space; each one line for `vmrouter check`. */
export function lintRuleSpace(users: readonly RuleUser[]): string[] {
  const out: string[] = [];
  const byTable = new Map<number, string[]>();
  for (const u of users) {
    for (const t of u.tables) {
      byTable.set(t, [...(byTable.get(t) ?? []), u.who]);
      for (const f of FOREIGN) if (f.tables && t >= f.tables[0] && t <= f.tables[1]) out.push(`${u.who}: table ${t} is also used by ${f.who}`);
    }
    for (const r of u.rules) {
      if (u.vrf && r.mark && r.pref >= PREF_L3MDEV) out.push(`${u.who}: fwmark rule at priority ${r.pref} comes after the l3mdev rule (${PREF_L3MDEV}); traffic of VRF-enslaved devices never reaches it`);
      if (r.pref >= PREF_MAIN) out.push(`${u.who}: rule at priority ${r.pref} comes after the main table rule (${PREF_MAIN})`);
      for (const f of FOREIGN) if (f.prefs && r.pref >= f.prefs[0] && r.pref <= f.prefs[1]) out.push(`${u.who}: rule priority ${r.pref} is in the range of ${f.who}`);
    }
  }
  for (const [t, whos] of byTable) if (new Set(whos).size > 1) out.push(`table ${t} is shared by ${[...new Set(whos)].join(' and ')}`);
  return [...new Set(out)];
}
