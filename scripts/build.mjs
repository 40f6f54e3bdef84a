// Builds dist/vmrouter: one self-contained executable (Node's Single Executable Applications).
//  1. esbuild bundles src/ with its dependencies, the templates and the version into dist/vmrouter.cjs
//  2. node-gyp builds the packet addon (native/packet.c); it is embedded in the executable as a SEA
//     asset (src/native/packet.ts loads it from there) and also left in dist/ for the tests' helpers
//  3. the bundle and the addon become a SEA blob with a V8 code cache (start-up ~20 ms instead of
//     ~37 ms), injected with postject into a stripped copy of this node (strip before injecting:
//     stripping after breaks the blob; docs/design.md)
//  4. the manual pages, the bash completion and the /etc example go to dist/man, dist/completion and
//     dist/etc (scripts/gen-docs.mjs), from the same tables as --help
// The version is VMROUTER_VERSION when set (debian/rules sets it from debian/changelog, so that
// `vmrouter --version` prints the package version), otherwise package.json's.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { genDocs } from './gen-docs.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const version = process.env.VMROUTER_VERSION ?? pkg.version;
const templates = Object.fromEntries(
  readdirSync('templates')
    .filter((f) => f.endsWith('.hbs'))
    .map((f) => [f.replace(/\.hbs$/, ''), readFileSync(`templates/${f}`, 'utf8')]),
);
/** Runs a build step; its output is shown only when it fails (postject warns about ELF notes on success). */
function run(file, args) {
  try {
    execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    process.stderr.write(`${file} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    process.exit(1);
  }
}

mkdirSync('dist', { recursive: true });
const define = { VMROUTER_VERSION: JSON.stringify(version), VMROUTER_TEMPLATES: JSON.stringify(templates) };
const result = await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: 'dist/vmrouter.cjs',
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  define,
});
writeFileSync('dist/meta.json', JSON.stringify(result.metafile));

run('npx', ['--no-install', 'node-gyp', 'rebuild', '--silent', '--nodedir=/usr']);
copyFileSync('build/Release/vmrouter_packet.node', 'dist/vmrouter_packet.node');

// the asset key is ADDON_ASSET in src/native/packet.ts
const seaConfig = { main: 'dist/vmrouter.cjs', output: 'dist/vmrouter.blob', disableExperimentalSEAWarning: true, useCodeCache: true, assets: { 'vmrouter_packet.node': 'dist/vmrouter_packet.node' } };
writeFileSync('dist/sea-config.json', JSON.stringify(seaConfig));
run(process.execPath, ['--experimental-sea-config', 'dist/sea-config.json']);
rmSync('dist/vmrouter', { force: true });
copyFileSync(process.execPath, 'dist/vmrouter');
chmodSync('dist/vmrouter', 0o755);
run('strip', ['--remove-section=.comment', 'dist/vmrouter']); // .comment: compiler banners only (lintian binary-has-unneeded-section)
run('npx', ['--no-install', 'postject', 'dist/vmrouter', 'NODE_SEA_BLOB', 'dist/vmrouter.blob', '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2']);
rmSync('dist/package.json', { force: true });
await genDocs('dist', null, define);
console.log(`built dist/vmrouter ${version}`);
