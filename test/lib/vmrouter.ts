/** The vmrouter under test: the built binary, as the hooks and hypervisors run it. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Options } from 'execa';
import { inNs, run, type RunResult } from './run.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = resolve(ROOT, 'dist', 'vmrouter');

if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);

/** Runs vmrouter without NODE_EXTRA_CA_CERTS noise; `ns` runs it inside a namespace. */
export function vmrouter(args: string[], opts: Options & { ok?: boolean; ns?: string } = {}): Promise<RunResult> {
  const { ns, ...rest } = opts;
  return ns ? inNs(ns, [BIN, ...args], rest) : run([BIN, ...args], rest);
}
