/** Running commands from tests: argv arrays, inside a network namespace when asked. */
import { execa, type Options } from 'execa';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(argv: string[], opts: Options & { ok?: boolean } = {}): Promise<RunResult> {
  const { ok = true, ...rest } = opts;
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, ...rest });
  const res = { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  if (ok && res.code !== 0) throw new Error(`${argv.join(' ')} exited ${res.code}:\n${res.stderr}\n${res.stdout}`);
  return res;
}

/** `ip netns exec NS argv…` */
export function inNs(ns: string, argv: string[], opts: Options & { ok?: boolean } = {}): Promise<RunResult> {
  return run(['ip', 'netns', 'exec', ns, ...argv], opts);
}
