import { renameSync, writeFileSync } from 'node:fs';

/** Replaces a file atomically, so a reader (ifup) never sees half of it. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.vmrouter-${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}
