/**
 * vmrouter.conf loader. The `ini` package decodes each line's value (quotes, inline comments); this
 * file walks the lines itself so every value keeps its line number, and so duplicate keys and
 * sections, keys outside sections and lines that are not `key = value` are errors instead of being
 * silently merged.
 */
import ini from 'ini';
import { InputError, InvalidInput, type Origin } from './errors.js';
import type { RawNetwork } from './raw.js';
import { FEATURES } from '../features/registry.js';
import { SECTIONS, type KeySpec } from './schema.js';
import { suggest } from './suggest.js';

const SECTION = /^\[([^\]]*)\]\s*(?:[;#].*)?$/;
const KEY_VALUE = /^([^=\s][^=]*?)\s*=(.*)$/;

/** The sections of a vmrouter.conf: the single [ndp] and [dhcp], and the features' [KIND NAME] ([network NAME] among them). */
export interface IniSections {
  /** [ndp], [dhcp]: `name` is the section kind */
  globals: Map<string, RawNetwork>;
  /** sections of the registered features, by kind, in file order */
  features: Map<string, RawNetwork[]>;
}

/** What a section kind looks like: the unnamed fixed ones, then the registered features (always named). */
export function sectionSpec(kind: string): { named: boolean; keys: readonly KeySpec[] } | undefined {
  const feature = FEATURES.find((f) => f.kind === kind);
  return SECTIONS[kind] ?? (feature ? { named: true, keys: feature.keys } : undefined);
}

/** "[network NAME], [vrf NAME], … [ndp] and [dhcp]" for error messages. */
function sectionList(): string {
  const all = [...FEATURES.map((f) => `[${f.kind} NAME]`), ...Object.keys(SECTIONS).map((k) => `[${k}]`)];
  return `${all.slice(0, -1).join(', ')} and ${all[all.length - 1]}`;
}

export function loadIniSections(text: string, file: string): IniSections {
  const problems: InputError[] = [];
  const globals = new Map<string, RawNetwork>();
  const features = new Map<string, RawNetwork[]>();
  let keys: ReadonlySet<string> = new Set();
  let repeatable: ReadonlySet<string> = new Set();
  const seenSections = new Map<string, number>();
  let current: RawNetwork | null = null;
  let skipping = false;

  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trim();
    const lineNo = index + 1;
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    const at = (section: string, key?: string): Origin => ({ file, line: lineNo, section, ...(key ? { key } : {}) });

    const header = SECTION.exec(line);
    if (header) {
      const title = header[1]!.trim().replace(/\s+/g, ' ');
      const section = `[${title}]`;
      current = null;
      skipping = true;
      const earlier = seenSections.get(title);
      if (earlier !== undefined) {
        problems.push(new InputError(at(section), `duplicate section (first defined on line ${earlier})`));
        return;
      }
      seenSections.set(title, lineNo);
      const [kind, name, ...rest] = title.split(' ');
      const spec = kind === undefined ? undefined : sectionSpec(kind);
      if (!spec) {
        problems.push(new InputError(at(section), `unknown section; vmrouter.conf has ${sectionList()} sections`));
        return;
      }
      if (spec.named && (!name || rest.length > 0)) {
        problems.push(new InputError(at(section), `expected [${kind} NAME] with a one-word name`));
        return;
      }
      if (!spec.named && name !== undefined) {
        problems.push(new InputError(at(section), `expected [${kind}] without a name`));
        return;
      }
      current = { name: spec.named ? name! : kind!, origin: at(section), values: new Map() };
      if (spec.named) features.set(kind!, [...(features.get(kind!) ?? []), current]);
      else globals.set(kind!, current);
      keys = new Set(spec.keys.map((k) => k.key));
      repeatable = new Set(spec.keys.filter((k) => k.repeat).map((k) => k.key));
      skipping = false;
      return;
    }

    const kv = KEY_VALUE.exec(line);
    if (!kv) {
      problems.push(new InputError(at(current ? (current as RawNetwork).origin.section : '(top level)'), `expected "key = value", got ${JSON.stringify(line)}`));
      return;
    }
    const key = kv[1]!.trim();
    if (!current) {
      if (!skipping) problems.push(new InputError(at('(top level)', key), `key outside a section; put it under ${sectionList().replace(/ and (?=[^,]*$)/, ' or ')}`));
      return;
    }
    const network: RawNetwork = current;
    const origin = at(network.origin.section, key);
    if (!keys.has(key)) {
      const hint = suggest(key, keys);
      problems.push(new InputError(origin, `unknown key${hint ? ` (did you mean ${hint}?)` : ''}`));
      return;
    }
    const previous = network.values.get(key);
    if (repeatable.has(key)) {
      // like Address= in systemd.network(5): each line adds one entry
      const value = { value: decodeValue(kv[2]!), origin };
      network.repeated ??= new Map();
      network.repeated.set(key, [...(network.repeated.get(key) ?? []), value]);
      if (!previous) network.values.set(key, value);
      return;
    }
    if (previous) {
      problems.push(new InputError(origin, `duplicate key (first set on line ${previous.origin.line})`));
      return;
    }
    network.values.set(key, { value: decodeValue(kv[2]!), origin });
  });

  if (problems.length > 0) throw new InvalidInput(problems);
  return { globals, features };
}

/**
 * One value as the `ini` package reads it (inline comments, quotes), kept as text: `ini` turns
 * true/false/null into JSON values, and keeps the quotes of a quoted value followed by a comment.
 */
function decodeValue(text: string): string {
  const decoded = (ini.decode(`v=${text}`) as Record<string, unknown>).v;
  const value = decoded === undefined ? '' : String(decoded).trim();
  const quoted = /^(["'])(.*)\1$/.exec(value);
  return quoted ? quoted[2]! : value;
}
