/**
 * The plain `up`/`pre-down` lines of expanded stanzas. ifupdown runs each line with /bin/sh and
 * vmrouter does not run at all, so what the hooks' ledger does for compact stanzas is done here with
 * files. (`pre-down`, not `down`: ifupdown runs both before it deconfigures the interface, ifupdown2
 * runs `down` after it has set the link down and flushed its addresses, and the routes with them.)
 *
 * - a sysctl is held in STATE/KEY/: one empty file per stanza that holds it, and `.was`, the value
 *   found before the first holder changed it; the last holder's `pre-down` writes that value back;
 * - an object several stanzas share (a vmrouter nft table, a VRF, node-wide rules) is made by the
 *   first holder's `up` and removed by the last holder's `pre-down`;
 * - a device the stanza creates (a bridge) is made in pre-up only if this stanza has not made it
 *   already, so an ifup that failed after pre-up can be retried.
 *
 * STATE is the state directory of the namespace `generate` runs in (/run/vmrouter/expanded on a
 * node): a tmpfs, emptied at boot like the kernel state it counts. Holder names and keys are made of
 * characters that need no quoting; everything else is quoted by shellLine.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../config/errors.js';
import { doArgv, undoArgv, type Step } from '../plan/step.js';
import { shellLine, shellWord } from './shell.js';

export interface ExpandedLine {
  why?: string;
  line: string;
}

export interface ExpandedStep {
  why: string;
  lines: string[];
}

/** A file name for an object key: readable, and short enough for any file system. */
function slug(key: string): string {
  const plain = key.replace(/[^A-Za-z0-9_.,=+@]+/g, '-').replace(/^-+|-+$/g, '');
  return plain.length <= 100 ? plain : `${plain.slice(0, 90)}-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

/** `KIND.NAME@IFACE`: who holds an object, one per stanza. */
export const holderName = (kind: string, name: string, iface: string): string => slug(`${kind}.${name}@${iface}`);

export class ExpandedLines {
  constructor(
    private readonly state: string,
    private readonly holder: string,
  ) {
    if (!/^\/[A-Za-z0-9_./-]+$/.test(state)) throw new UsageError(`--state-dir ${JSON.stringify(state)}: expanded stanzas need a directory name without spaces or shell characters`);
  }

  private dir(key: string): string {
    return `${this.state}/${slug(key)}`;
  }

  /** the up lines of a step: the command as a person would type it, after the holder bookkeeping */
  up(s: Step): string[] {
    const d = this.dir(s.key);
    const cmd = shellLine(doArgv(s));
    if (s.kind === 'sysctl') return [`d=${d}; mkdir -p $d && { [ -e $d/.was ] || cat ${shellWord(`/proc/sys/${s.path}`)} > $d/.was; } && touch $d/${this.holder}`, cmd];
    if (s.shared && undoArgv(s)) return [`d=${d}; mkdir -p $d && { [ -n "$(ls $d)" ] || ${cmd}; } && touch $d/${this.holder}`];
    return [cmd];
  }

  /** null: nothing to run (the kernel removes it with something else, or nobody can) */
  down(s: Step): string | null {
    const release = `d=${this.dir(s.key)}; rm -f $d/${this.holder}; [ -n "$(ls $d 2>/dev/null)" ]`;
    if (s.kind === 'sysctl') return `${release} || ! [ -e $d/.was ] || { sysctl -q -w ${shellWord(s.path)}="$(cat $d/.was)"; rm -r $d; }`;
    const undo = undoArgv(s);
    if (!undo) return null;
    if (s.shared) return `${release} || ! [ -d $d ] || { ${shellLine(undo)} && rmdir $d; }`;
    return shellLine(undo);
  }

  /** pre-up/post-down of a device the stanza makes: pre-up not again after a failed ifup of this stanza */
  device(create: { up: string[]; down: string[] }, iface: string): { up: string; down: string } {
    const d = this.dir(`device ${iface}`);
    return { up: `d=${d}; mkdir -p $d && { [ -e $d/${this.holder} ] || ${shellLine(create.up)}; } && touch $d/${this.holder}`, down: `rm -rf ${d}; ${shellLine(create.down)}` };
  }

  lines(steps: readonly Step[]): { up: ExpandedStep[]; down: ExpandedLine[] } {
    return {
      up: steps.map((s) => ({ why: s.why, lines: this.up(s) })),
      down: steps
        .map((s) => this.down(s))
        .filter((l): l is string => l !== null)
        .reverse()
        .map((line) => ({ line })),
    };
  }
}
