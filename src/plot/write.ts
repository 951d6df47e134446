/** Whole-or-nothing file writes: a temporary file in the target's directory, renamed over it at the end. */
import { renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `content` to `file` so that `file` is either its old self or complete: the bytes go to a
 * hidden temporary file beside it (same file system, so the rename is atomic), removed on failure.
 * A failure names `file` (not the temporary file) and why.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  // the temporary name is cut so that it stays within NAME_MAX (255 bytes) wherever `file`'s own name does
  const temp = join(dirname(file), `.${truncateUtf8(basename(file), 200)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let step = `creating a file in ${dirname(file)}`;
  try {
    writeFileSync(temp, content);
    step = `renaming the written file to ${basename(file)}`;
    renameSync(temp, file);
  } catch (error) {
    try {
      rmSync(temp, { force: true });
    } catch {
      // nothing to remove, or nothing that can be: the error worth reporting is the write's
    }
    throw new Error(`cannot write ${file}: ${unwritableReason(file) ?? systemReason(error, step, temp, file)}`, { cause: error });
  }
}

/**
 * A system error in words without the path Node puts in its message — the temporary file's, which the user never
 * named: "no such file or directory (ENOENT, creating a file in /proc)".
 */
function systemReason(error: unknown, step: string, temp: string, file: string): string {
  const e = error as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && typeof e.syscall === 'string') return errorWords(e, step);
  return String((error as Error)?.message ?? error).split(temp).join(file);
}

/** A system error as words and code, `context` after the code: "not a directory (ENOTDIR, creating …)", no path. */
export function errorWords(error: NodeJS.ErrnoException, context?: string): string {
  // Node's message is "CODE: description, syscall 'path'"
  const words = /^[A-Z0-9_]+: (.*?), [a-z_]+\b/.exec(error.message)?.[1] ?? error.message;
  return `${words} (${[error.code ?? 'error', context].filter(Boolean).join(', ')})`;
}

/** The longest prefix of `name` of at most `bytes` UTF-8 bytes (whole code points). */
function truncateUtf8(name: string, bytes: number): string {
  if (Buffer.byteLength(name) <= bytes) return name;
  let out = '';
  let used = 0;
  for (const ch of name) {
    used += Buffer.byteLength(ch);
    if (used > bytes) break;
    out += ch;
  }
  return out;
}

/**
 * Why `file` cannot be written where that is known before writing — its directory missing or not a directory, or the
 * path a directory — else undefined (permissions and full disks show only when writing). Commands check their output
 * paths with it before any work, so that a typo in a directory does not cost a long run.
 */
export function unwritableReason(file: string): string | undefined {
  const dir = dirname(file);
  const dirStat = statOf(dir);
  if (!dirStat) {
    // a file above the directory: say which, not "does not exist"
    const blocker = fileAbove(dir);
    return blocker ? `${blocker} is not a directory` : `its directory ${dir} does not exist`;
  }
  if (!dirStat.isDirectory()) return `${dir} is not a directory`;
  if (statOf(file)?.isDirectory()) return 'it is a directory';
  return undefined;
}

/** stat, or undefined where nothing is there — also ENOTDIR (a file on the way), which throwIfNoEntry does not cover. */
export function statOf(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** The nearest existing path above or at `dir` when it is not a directory (what blocks creating `dir`), else undefined. */
export function fileAbove(dir: string): string | undefined {
  for (let p = dir; ; p = dirname(p)) {
    const st = statOf(p);
    if (st) return st.isDirectory() ? undefined : p;
    if (dirname(p) === p) return undefined;
  }
}
