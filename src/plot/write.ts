/** Whole-or-nothing file writes: a temporary file in the target's directory, renamed over it at the end. */
import { renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `content` to `file` so that `file` is either its old self or complete: the bytes go to a
 * hidden temporary file beside it (same file system, so the rename is atomic), removed on failure.
 * A failure names `file` (not the temporary file) and why.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    writeFileSync(temp, content);
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new Error(`cannot write ${file}: ${unwritableReason(file) ?? (error as Error).message}`, { cause: error });
  }
}

/**
 * Why `file` cannot be written where that is known before writing — its directory missing or not a directory, or the
 * path a directory — else undefined (permissions and full disks show only when writing). Commands check their output
 * paths with it before any work, so that a typo in a directory does not cost a long run.
 */
export function unwritableReason(file: string): string | undefined {
  const dir = dirname(file);
  const dirStat = statSync(dir, { throwIfNoEntry: false });
  if (!dirStat) return `its directory ${dir} does not exist`;
  if (!dirStat.isDirectory()) return `${dir} is not a directory`;
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) return 'it is a directory';
  return undefined;
}
