/** Entry point of the vmrouter binary. */
import { main } from './cli/main.js';

const debug = process.argv.includes('--debug') || process.env.VMROUTER_DEBUG === '1';
/** Anything that escapes main (a throw in a timer or event handler): one line, exit 1. */
function fatal(e: unknown): void {
  process.stderr.write(`vmrouter: ${e instanceof Error ? e.message : String(e)}\n`);
  if (debug && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
// `vmrouter --help | head -1`: a closed pipe is not an error worth a message
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? process.exit(process.exitCode ?? 0) : fatal(e)));
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  fatal,
);
