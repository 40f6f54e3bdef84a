// Builds dist/: vmrouter.cjs (one bundle: code + templates + version), the packet addon, and a
// dist/vmrouter launcher. The .deb packaging turns the bundle into a single executable.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const version = process.env.VMROUTER_VERSION ?? pkg.version;
const templates = Object.fromEntries(
  readdirSync('templates')
    .filter((f) => f.endsWith('.hbs'))
    .map((f) => [f.replace(/\.hbs$/, ''), readFileSync(`templates/${f}`, 'utf8')]),
);

mkdirSync('dist', { recursive: true });
const result = await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: 'dist/vmrouter',
  banner: { js: '#!/usr/bin/env node' },
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { VMROUTER_VERSION: JSON.stringify(version), VMROUTER_TEMPLATES: JSON.stringify(templates) },
});

execFileSync('npx', ['--no-install', 'node-gyp', 'rebuild', '--silent', '--nodedir=/usr'], { stdio: ['ignore', 'ignore', 'inherit'] });
copyFileSync('build/Release/vmrouter_packet.node', 'dist/vmrouter_packet.node');

// dist/vmrouter is CommonJS without an extension; this keeps the repository's "type": "module" off it
writeFileSync('dist/package.json', '{ "type": "commonjs" }\n');
writeFileSync('dist/meta.json', JSON.stringify(result.metafile));
chmodSync('dist/vmrouter', 0o755);
console.log(`built dist/vmrouter ${version}`);
