/**
 * Bindings files for `vmrouter tap sync`: the VM NICs a network should have on this node.
 *
 *   # TAP  [MAC]  ADDRESS...          (IPv4 and IPv6 addresses, in any order)
 *   tap0   52:54:00:12:34:56  192.0.2.11 2001:db8::11
 *   tap1   192.0.2.12
 *
 * A file ending in .json holds [{"tap": "tap0", "mac": "…", "ip": ["…"], "ip6": ["…"]}, …]. A
 * directory stands for all its files not starting with "." (in name order), e.g. one per VM.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAddress } from '../model/addr.js';
import { ifnameProblem, parseMac } from '../model/names.js';
import { InputError, InvalidInput } from './errors.js';

export interface BindingLine {
  tap: string;
  mac: string | null;
  ips: string[];
  ip6s: string[];
  /** "file:line", for messages */
  where: string;
}

function problem(file: string, line: number, key: string | undefined, message: string): InputError {
  return new InputError({ file, line, section: 'bindings', ...(key ? { key } : {}) }, message);
}

function lineBinding(file: string, line: number, fields: { tap: unknown; mac?: unknown; ip?: unknown; ip6?: unknown }, problems: InputError[]): BindingLine | null {
  const before = problems.length;
  const tap = typeof fields.tap === 'string' ? fields.tap : '';
  const p = ifnameProblem(tap);
  if (p) problems.push(problem(file, line, 'tap', `${JSON.stringify(fields.tap)} ${p}`));
  let mac: string | null = null;
  if (fields.mac !== undefined && fields.mac !== null) {
    mac = typeof fields.mac === 'string' ? parseMac(fields.mac) : null;
    if (!mac) problems.push(problem(file, line, 'mac', `${JSON.stringify(fields.mac)} is not a unicast MAC address`));
  }
  const list = (value: unknown, family: 4 | 6, key: string): string[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      problems.push(problem(file, line, key, 'must be a list of addresses'));
      return [];
    }
    return value.flatMap((v) => {
      const a = typeof v === 'string' ? parseAddress(v, family) : null;
      if (!a) problems.push(problem(file, line, key, `${JSON.stringify(v)} is not an IPv${family} address`));
      return a ? [a.address] : [];
    });
  };
  const ips = list(fields.ip, 4, 'ip');
  const ip6s = list(fields.ip6, 6, 'ip6');
  return problems.length > before ? null : { tap, mac, ips, ip6s, where: `${file}:${line}` };
}

export function parseBindings(text: string, file: string): BindingLine[] {
  const problems: InputError[] = [];
  const out: BindingLine[] = [];
  if (file.endsWith('.json')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new InvalidInput([problem(file, 1, undefined, `not JSON: ${(e as Error).message}`)]);
    }
    if (!Array.isArray(json)) throw new InvalidInput([problem(file, 1, undefined, 'must be a JSON list of {"tap", "mac", "ip", "ip6"} objects')]);
    json.forEach((item, i) => {
      if (typeof item !== 'object' || item === null) problems.push(problem(file, i + 1, undefined, `item ${i + 1} is not an object`));
      else {
        const unknown = Object.keys(item).filter((k) => !['tap', 'mac', 'ip', 'ip6'].includes(k));
        if (unknown.length) problems.push(problem(file, i + 1, unknown[0], `unknown field (item ${i + 1})`));
        const b = lineBinding(file, i + 1, item as Record<string, unknown> as { tap: unknown }, problems);
        if (b) out.push(b);
      }
    });
  } else {
    text.split('\n').forEach((raw, i) => {
      const words = raw.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
      if (words.length === 0) return;
      const [tap, ...rest] = words;
      const mac = rest.filter((w) => /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(w));
      const addrs = rest.filter((w) => !mac.includes(w));
      if (mac.length > 1) problems.push(problem(file, i + 1, 'mac', 'more than one MAC'));
      const b = lineBinding(file, i + 1, { tap, mac: mac[0], ip: addrs.filter((a) => !a.includes(':')), ip6: addrs.filter((a) => a.includes(':')) }, problems);
      if (b) out.push(b);
    });
  }
  if (problems.length > 0) throw new InvalidInput(problems);
  return out;
}

/** A file, or every file of a directory; a TAP listed twice is an error. */
export function readBindings(path: string): BindingLine[] {
  let files: string[];
  try {
    files = statSync(path).isDirectory() ? readdirSync(path).filter((f) => !f.startsWith('.')).sort().map((f) => join(path, f)) : [path];
  } catch (e) {
    throw new InvalidInput([new InputError({ file: path, section: '(file)' }, `cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`)]);
  }
  const all = files.flatMap((f) => parseBindings(readFileSync(f, 'utf8'), f));
  const seen = new Map<string, string>();
  const problems: InputError[] = [];
  for (const b of all) {
    const first = seen.get(b.tap);
    if (first) {
      const [file, line] = [b.where.slice(0, b.where.lastIndexOf(':')), Number(b.where.slice(b.where.lastIndexOf(':') + 1))];
      problems.push(problem(file, line, 'tap', `${b.tap} is already listed at ${first}`));
    } else seen.set(b.tap, b.where);
  }
  if (problems.length > 0) throw new InvalidInput(problems);
  return all;
}
