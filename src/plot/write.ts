/** Whole-or-nothing file writes: a temporary file in the target's directory, renamed over it at the end. */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `content` to `file` so that `file` is either its old self or complete: the bytes go to a
 * hidden temporary file beside it (same file system, so the rename is atomic), removed on failure.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    writeFileSync(temp, content);
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
