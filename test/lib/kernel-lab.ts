/**
 * The kernel lab: boots Debian's own kernel (linux-image-amd64, which has VRF, 802.1Q and the rest
 * this machine's kernel lacks) under qemu with TCG, with this machine's / as the guest's root
 * (read-only 9p under an overlay on tmpfs, see kernel-lab/init), runs one shell command there and
 * returns its output. Results come back through a writable 9p share; the serial console is kept
 * for when the boot itself fails. Recipe: docs/design.md, "Testing against a real kernel".
 *
 * The unpacked kernel and the initramfs are cached in CACHE (one directory per kernel release);
 * a boot takes ~8 s, so tests run several scenarios per boot.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ROOT } from './vmrouter.js';

export const CACHE = process.env.VMROUTER_TEST_KERNEL_CACHE ?? '/var/cache/vmrouter-test-kernel';
const INIT = join(ROOT, 'test/lib/kernel-lab/init');
/** what stage 1 must insmod to reach the root (their dependencies are computed) */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

export interface Kernel {
  release: string;
  dir: string;
  vmlinuz: string;
  initrd: string;
}

const sh = (file: string, args: string[], cwd?: string) => execFileSync(file, args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });

/** Why the lab cannot run here, or null: the tests skip with this reason rather than pass. */
export function labUnavailable(): string | null {
  for (const tool of ['qemu-system-x86_64', 'busybox', 'cpio', 'apt-get', 'dpkg-deb', 'depmod']) {
    try {
      sh('sh', ['-c', 'command -v "$0"', tool]);
    } catch {
      return `${tool} is not installed (scripts/setup.sh installs it)`;
    }
  }
  return null;
}

/** Downloads and unpacks the kernel the linux-image-amd64 metapackage points at, once. */
export function prepareKernel(): Kernel {
  const dep = /Depends: (linux-image-(\S+))/.exec(sh('apt-cache', ['depends', 'linux-image-amd64']));
  if (!dep) throw new Error('apt-cache depends linux-image-amd64 names no kernel package');
  const [, pkg, release] = dep as unknown as [string, string, string];
  const dir = join(CACHE, release);
  const ready = join(dir, '.unpacked');
  if (!existsSync(ready)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const dl = mkdtempSync(join(CACHE, 'download-'));
    // apt's sandbox user cannot write here; the warning about it is harmless
    sh('apt-get', ['download', '-q', pkg], dl);
    const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    sh('dpkg-deb', ['-x', join(dl, deb), dir]);
    rmSync(dl, { recursive: true, force: true });
    sh('depmod', ['-b', dir, release]);
    writeFileSync(ready, `${pkg}\n`);
  }
  const kernel = { release, dir, vmlinuz: join(dir, 'boot', `vmlinuz-${release}`), initrd: join(dir, 'lab-initrd.cpio') };
  buildInitrd(kernel);
  return kernel;
}

/** The .ko files `modules` need, dependencies first, each once (modprobe --show-depends; built-ins need none). */
export function moduleOrder(k: Kernel, modules: string[]): string[] {
  const order: string[] = [];
  for (const m of modules) {
    for (const line of sh('modprobe', ['-d', k.dir, '-S', k.release, '--show-depends', m]).split('\n')) {
      const path = /^insmod (\S+)/.exec(line)?.[1];
      if (path && !order.includes(path)) order.push(path);
    }
  }
  return order;
}

/** busybox, the stage-1 init and the boot modules in dependency order (modprobe --show-depends). */
function buildInitrd(k: Kernel): void {
  if (existsSync(k.initrd) && statSync(k.initrd).mtimeMs > statSync(INIT).mtimeMs) return;
  const tmp = mkdtempSync('/tmp/vmrouter-initrd-');
  try {
    for (const d of ['bin', 'modules', 'proc', 'sys', 'dev']) mkdirSync(join(tmp, d));
    copyFileSync('/bin/busybox', join(tmp, 'bin/busybox'));
    execFileSync('chmod', ['755', join(tmp, 'bin/busybox')]);
    copyFileSync(INIT, join(tmp, 'init'));
    execFileSync('chmod', ['755', join(tmp, 'init')]);
    writeFileSync(join(tmp, 'kdir'), `${k.dir}\n`);
    const order = moduleOrder(k, BOOT_MODULES);
    for (const p of order) copyFileSync(p, join(tmp, 'modules', basename(p)));
    writeFileSync(join(tmp, 'modules.list'), order.map((p) => basename(p)).join('\n') + '\n');
    const files = sh('find', ['.', '-mindepth', '1'], tmp);
    const cpio = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: tmp, input: files, maxBuffer: 1 << 28 });
    writeFileSync(k.initrd, cpio);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface BootResult {
  /** exit status of the command in the guest; null when it never reported one */
  code: number | null;
  /** its standard output and error */
  output: string;
  console: string;
  seconds: number;
}

/**
 * Boots the kernel and runs `command` (a shell command line, run by /bin/sh in the guest's root,
 * cwd the repository). The guest powers off when it is done; `timeoutMs` kills a hung one.
 */
export async function boot(k: Kernel, command: string, timeoutMs = 540_000): Promise<BootResult> {
  const out = mkdtempSync('/tmp/vmrouter-lab-');
  writeFileSync(
    join(out, 'run.sh'),
    [
      '# stage 2 (PID 1 in the guest root): run the command, report, power off',
      'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C',
      `cd ${ROOT}`,
      `( ${command} ) > /run/lab-out/output 2>&1`,
      'echo $? > /run/lab-out/rc',
      'sync',
      '/bin/busybox poweroff -f',
      '',
    ].join('\n'),
  );
  const args = [
    '-accel', 'tcg', '-m', '2048', '-smp', '2', '-nographic', '-no-reboot', '-nic', 'none',
    '-kernel', k.vmlinuz, '-initrd', k.initrd,
    '-append', 'console=ttyS0 panic=-1 quiet loglevel=3',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${out},mount_tag=labout,security_model=none`,
  ];
  const started = Date.now();
  const console = await new Promise<string>((resolve) => {
    const p = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.stderr.on('data', (d) => (text += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  const read = (f: string) => (existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8') : '');
  const rc = read('rc').trim();
  const result = { code: rc === '' ? null : Number(rc), output: read('output'), console, seconds: (Date.now() - started) / 1000 };
  rmSync(out, { recursive: true, force: true });
  return result;
}

/** Bundles a guest scenario (TypeScript) into .lab/guest/NAME.mjs, so the guest needs only node. */
export function bundle(entry: string): string {
  const name = basename(entry).replace(/\.ts$/, '.mjs');
  const outfile = join(ROOT, '.lab', 'guest', name);
  execFileSync(join(ROOT, 'node_modules/.bin/esbuild'), [
    entry, '--bundle', '--platform=node', '--format=esm', '--log-level=error', `--outfile=${outfile}`,
    // CommonJS dependencies of the bundle still call require()
    "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  ]);
  return outfile;
}
