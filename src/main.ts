/** Entry point of the vmrouter binary. */
import { main } from './cli/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`vmrouter: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
