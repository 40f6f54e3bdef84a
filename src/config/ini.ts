/**
 * vmrouter.conf loader. The `ini` package decodes each line's value (quotes, inline comments); this
 * file walks the lines itself so every value keeps its line number, and so duplicate keys and
 * sections, keys outside sections and lines that are not `key = value` are errors instead of being
 * silently merged.
 */
import ini from 'ini';
import { InputError, InvalidInput, type Origin } from './errors.js';
import type { RawNetwork } from './raw.js';
import { NETWORK_KEY_NAMES } from './schema.js';
import { suggest } from './suggest.js';

const SECTION = /^\[([^\]]*)\]\s*(?:[;#].*)?$/;
const KEY_VALUE = /^([^=\s][^=]*?)\s*=(.*)$/;

export function loadIni(text: string, file: string): RawNetwork[] {
  const problems: InputError[] = [];
  const networks: RawNetwork[] = [];
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
      if (kind !== 'network') {
        problems.push(new InputError(at(section), `unknown section; vmrouter.conf has [network NAME] sections`));
        return;
      }
      if (!name || rest.length > 0) {
        problems.push(new InputError(at(section), 'expected [network NAME] with a one-word name'));
        return;
      }
      current = { name, origin: at(section), values: new Map() };
      networks.push(current);
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
      if (!skipping) problems.push(new InputError(at('(top level)', key), 'key outside a section; put it under [network NAME]'));
      return;
    }
    const network: RawNetwork = current;
    const origin = at(network.origin.section, key);
    if (!NETWORK_KEY_NAMES.has(key)) {
      const hint = suggest(key, NETWORK_KEY_NAMES);
      problems.push(new InputError(origin, `unknown key${hint ? ` (did you mean ${hint}?)` : ''}`));
      return;
    }
    const previous = network.values.get(key);
    if (previous) {
      problems.push(new InputError(origin, `duplicate key (first set on line ${previous.origin.line})`));
      return;
    }
    network.values.set(key, { value: decodeValue(kv[2]!), origin });
  });

  if (problems.length > 0) throw new InvalidInput(problems);
  return networks;
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
