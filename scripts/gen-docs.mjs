// Generates vmrouter(8), vmrouter.conf(5), the bash completion and the commented /etc example from
// the command table and the config schema (src/docs/), and with --markdown docs/configuration.md.
//   node scripts/gen-docs.mjs [--out DIR] [--markdown FILE]      (npm run docs: docs/configuration.md)
// scripts/build.mjs calls genDocs('dist') so every build ships manuals that match its --help.
import { createRequire } from 'node:module';
import { build } from 'esbuild';

/** The same defines as the executable, so the pages carry the version the binary prints. */
export async function genDocs(out, markdown, define) {
  await build({
    entryPoints: ['src/docs/generate.ts'],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: 'dist/gen-docs.cjs',
    logLevel: 'warning',
    define: define ?? {},
  });
  const require = createRequire(import.meta.url);
  require('../dist/gen-docs.cjs').generate(out, markdown);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : null);
  await genDocs(opt('--out'), opt('--markdown'));
}
