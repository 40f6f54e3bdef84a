/**
 * Finds a stanza and its option lines in /etc/network/interfaces (following `source` and
 * `source-directory`), so that errors from the hooks can name a line. Best effort: the hooks get
 * their options from ifupdown — except that ifupdown2, which runs the hook once for an interface's
 * inet and inet6 stanzas, exports only the first stanza's options; the others are read here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface StanzaLocation {
  file: string;
  line: number;
  optionLines: Map<string, number>;
  /** option → value (its first line), as ifupdown exports them */
  options: Map<string, string>;
}

function expand(pattern: string, base: string): string[] {
  const path = resolve(base, pattern);
  if (!path.includes('*')) return [path];
  const dir = dirname(path);
  const re = new RegExp(`^${path.slice(dir.length + 1).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  try {
    return readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => join(dir, f));
  } catch {
    return [];
  }
}

export function locateStanza(iface: string, addrfam: string, file = '/etc/network/interfaces', depth = 0): StanzaLocation | null {
  if (depth > 8) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  let found: StanzaLocation | null = null;
  for (let i = 0; i < lines.length; i++) {
    const words = lines[i]!.trim().split(/\s+/);
    if (found) {
      if (['iface', 'auto', 'allow-hotplug', 'mapping', 'source', 'source-directory'].includes(words[0]!) || /^allow-/.test(words[0]!)) break;
      if (words[0] && !words[0].startsWith('#') && !found.optionLines.has(words[0])) {
        found.optionLines.set(words[0], i + 1);
        found.options.set(words[0], words.slice(1).join(' ').replace(/\$IFACE\b/g, iface));
      }
      continue;
    }
    if (words[0] === 'iface' && words[1] === iface && words[2] === addrfam) {
      found = { file, line: i + 1, optionLines: new Map(), options: new Map() };
    } else if (words[0] === 'source' || words[0] === 'source-directory') {
      for (const target of words.slice(1)) {
        const files = words[0] === 'source' ? expand(target, dirname(file)) : expand(join(target, '*'), dirname(file));
        for (const f of files) {
          try {
            if (!statSync(f).isFile()) continue;
          } catch {
            continue;
          }
          const inner = locateStanza(iface, addrfam, f, depth + 1);
          if (inner) return inner;
        }
      }
    }
  }
  return found;
}

/** The options of `iface IFACE ADDRFAM`, or null when the stanza is not found. */
export function readStanzaOptions(iface: string, addrfam: string): Map<string, string> | null {
  return locateStanza(iface, addrfam)?.options ?? null;
}
