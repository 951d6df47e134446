/**
 * Node's cache on disk of the WebAssembly this library assembled, as KeOps keeps its compiled formulas in
 * ~/.cache/keops…: a formula's programs are assembled once per machine instead of once per process. Why: a fresh
 * process assembles each program from its text in cold JavaScript — 7–17 ms on the 2-vCPU VM for one of 36–48 KB (a
 * Gaussian's store at d = 64, a 10-column product at d = 3), plus the garbage the collector then pays for — which is
 * most of a small problem's fixed cost (fresh processes, medians of 9: a ten-column kernel ridge fit and predict at
 * n = 1,000, d = 3 took 154 ms without the cache, 144 ms with it).
 *
 * Where: LAZYLINALG_PROGRAM_CACHE — unset or blank: $XDG_CACHE_HOME/lazylinalg/programs, else
 * ~/.cache/lazylinalg/programs; an absolute path: that directory; 0: no cache. Anything else is an error naming it.
 *
 * Trust: an entry is named by the SHA-256 of the text together with the assembler's own source, so text assembled by
 * another version of the assembler is a miss; it holds that SHA-256 too (the name it was written under) and the
 * SHA-256 of both, so a torn or altered file, or one copied over the entry of another text, is a miss (and removed):
 * the name alone ties nothing, as a file's bytes checked only against a checksum inside the same file do not. Entries
 * are opened without following symbolic links and without blocking (O_NOFOLLOW | O_NONBLOCK), and only a regular file
 * of at most MAX_ENTRY_BYTES is read — a link, a FIFO (whose read blocked the calling thread forever), a device
 * (/dev/zero read endlessly) is a miss, and removed (the link itself, never what it names). The directory must be the user's own and not writable by group or others — one that is not is not
 * used, with a warning: bytes found there are compiled and run (inside WebAssembly's sandbox: they can compute
 * wrong numbers, not reach the process). Writes go to a temporary file renamed into place, off the calling thread;
 * concurrent processes write the same bytes. Beyond MAX_ENTRIES the oldest entries are removed, and with each write,
 * temporary files older than TEMPORARY_MAX_AGE_MS (left by a process killed between its write and its rename).
 */
import { Buffer } from 'node:buffer'; // imported, not the global: Deno (the notebooks) has no global Buffer
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, unlink as unlinkCallback } from 'node:fs';
import { lstat, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import process from 'node:process';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from './native-node.js';

/** Entries kept (a formula's programs are 3–30 KB each): past it, the oldest quarter goes. */
export const MAX_ENTRIES = 4096;

/**
 * The first bytes of an entry: format and version. Then the SHA-256 that names it (32 bytes), the SHA-256 of that name
 * and the program (32 bytes), and the program. Version 1 held no name: its entries are misses (and removed).
 */
const MAGIC = Buffer.from('lazylinalg wasm 2\n');
const HASH_BYTES = 32;
const HEADER_BYTES = MAGIC.length + 2 * HASH_BYTES;

/** The largest entry read (programs are 3–50 KB): a larger file is a miss, and removed. */
export const MAX_ENTRY_BYTES = 64 * 2 ** 20;

/** Temporary files older than this are removed when trimming: their writer died before its rename (a live one takes ms). */
export const TEMPORARY_MAX_AGE_MS = 60 * 60 * 1000;

/** The names of the temporary files `put` writes: `.<entry name>.<pid>.<count>.tmp` (nothing else is removed as one). */
const TEMPORARY_NAME = /^\.[0-9a-f]{64}\.wasm\.\d+\.\d+\.tmp$/;

/**
 * Opening an entry: never through a symbolic link (ELOOP; Windows has no O_NOFOLLOW, nor symlinks a user makes
 * without privileges), and without blocking where it is a FIFO (O_NONBLOCK: the open returns, fstat then refuses it).
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** The directory LAZYLINALG_PROGRAM_CACHE names (undefined: no cache); anything but blank, 0 or an absolute path throws. */
export function programCacheDirectory(raw: string | undefined, env: (name: string) => string | undefined): string | undefined {
  const value = raw?.trim() ?? '';
  if (value === '0') return undefined;
  if (value === '') {
    const base = env('XDG_CACHE_HOME')?.trim();
    if (base && isAbsolute(base)) return join(base, 'lazylinalg', 'programs');
    let home: string;
    try {
      home = homedir();
    } catch {
      return undefined; // no home directory: no cache
    }
    return home ? join(home, '.cache', 'lazylinalg', 'programs') : undefined;
  }
  if (!isAbsolute(value)) {
    throw new RangeError(`LAZYLINALG_PROGRAM_CACHE must be 0 (no cache), an absolute directory, or unset (the default ~/.cache/lazylinalg/programs), got '${raw}'`);
  }
  return value;
}

export interface ProgramCache {
  /** The bytes kept for `text`, or undefined. */
  get(text: string): Uint8Array | undefined;
  /** Keeps `bytes` (assembled from `text`) for later processes; returns when written (or given up). */
  put(text: string, bytes: Uint8Array): Promise<void>;
  readonly directory: string;
}

/**
 * The cache in `directory` (made, 0700, where missing), or undefined where it cannot be used: not creatable (a
 * read-only home), or not private — the second warned of through `warn`, and the first too where the user named it.
 */
export function openProgramCache(directory: string, named: boolean, warn: (message: string) => void): ProgramCache | undefined {
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
  } catch (error) {
    if (named) warn(`LAZYLINALG_PROGRAM_CACHE: cannot create '${directory}' (${(error as Error).message}); programs are assembled in each process`);
    return undefined;
  }
  const info = statSync(directory);
  const uid = process.getuid?.();
  const problem = !info.isDirectory() ? 'is not a directory'
    : uid !== undefined && info.uid !== uid ? `belongs to user ${info.uid}, not to this process's user ${uid}`
      : (info.mode & 0o022) !== 0 ? `is writable by ${(info.mode & 0o020) !== 0 ? 'its group' : 'others'} (mode ${(info.mode & 0o777).toString(8)})`
        : undefined;
  if (problem) {
    warn(`the program cache '${directory}' ${problem}: not used (its entries are run as code; make it private, e.g. chmod 700, or set LAZYLINALG_PROGRAM_CACHE)`);
    return undefined;
  }
  const salt = assemblerFingerprint();
  if (!salt) return undefined;
  // a miss hashes the text in `get`, then `put` keeps what was assembled from it: the second hashes it again
  let last: { text: string; key: Buffer; name: string } | undefined;
  const keyOf = (text: string): { key: Buffer; name: string } => {
    if (last?.text !== text) {
      const key = sha256(salt, '\n', text);
      last = { text, key, name: `${key.toString('hex')}.wasm` };
    }
    return last;
  };
  const remove = (file: string) => unlinkCallback(file, () => undefined); // gone (a link: the link), and written again after this assembly
  let temporaries = 0;
  return {
    directory,
    get(text) {
      const { key, name } = keyOf(text);
      const file = join(directory, name);
      const data = readEntry(file, remove);
      if (!data) return undefined; // not there, or not a file to read: assembled, and written again
      const intact = data.length > HEADER_BYTES && data.subarray(0, MAGIC.length).equals(MAGIC)
        && data.subarray(MAGIC.length, MAGIC.length + HASH_BYTES).equals(key) // written under this name, not copied here
        && sha256(key, data.subarray(HEADER_BYTES)).equals(data.subarray(MAGIC.length + HASH_BYTES, HEADER_BYTES));
      if (!intact) {
        remove(file); // torn, altered, of another text or of an earlier format
        return undefined;
      }
      return new Uint8Array(data.subarray(HEADER_BYTES));
    },
    async put(text, bytes) {
      const { key, name } = keyOf(text);
      const temporary = join(directory, `.${name}.${process.pid}.${temporaries++}.tmp`);
      const data = Buffer.concat([MAGIC, key, sha256(key, bytes), bytes]);
      if (data.length > MAX_ENTRY_BYTES) return; // would be refused when read
      try {
        await writeFile(temporary, data, { mode: 0o600, flag: 'wx' });
        await rename(temporary, join(directory, name));
        await trimProgramCache(directory);
      } catch {
        await unlink(temporary).catch(() => undefined); // a full disk or a removed directory: the next process assembles
      }
    },
  };
}

/**
 * The bytes of the entry `file`, or undefined: not there, or not a regular file of at most MAX_ENTRY_BYTES — a
 * symbolic link (not followed), a FIFO, a device or a socket is handed to `remove` (unlinked: a name in our directory,
 * never what it names); a directory is left (unlink cannot remove it; `put`'s rename over it fails, quietly).
 */
function readEntry(file: string, remove: (file: string) => void): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ELOOP: a symbolic link (FreeBSD says EMLINK); ENXIO: a socket. Anything else (ENOENT): a plain miss.
    if (code === 'ELOOP' || code === 'EMLINK' || code === 'ENXIO') remove(file);
    else if (code !== 'ENOENT' && isLink(file)) remove(file); // a system whose O_NOFOLLOW error is another one
    return undefined;
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || info.size > MAX_ENTRY_BYTES) {
      if (!info.isDirectory()) remove(file);
      return undefined;
    }
    const data = Buffer.allocUnsafe(info.size);
    let read = 0;
    while (read < data.length) {
      const got = readSync(fd, data, read, data.length - read, read);
      if (got === 0) break; // shortened meanwhile: the checks that follow refuse what was read
      read += got;
    }
    return data.subarray(0, read);
  } catch {
    return undefined; // an error reading (EIO): a miss; the next write replaces it
  } finally {
    closeSync(fd);
  }
}

function isLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The entries kept in `directory` and their bytes (none where it does not exist): for `lazylinalg info`. */
export function programCacheContents(directory: string): { entries: number; bytes: number } {
  let names: string[];
  try {
    names = readdirSync(directory).filter((name) => name.endsWith('.wasm'));
  } catch {
    return { entries: 0, bytes: 0 };
  }
  let bytes = 0;
  for (const name of names) {
    try {
      bytes += lstatSync(join(directory, name)).size; // a link's own size: what it names is not ours
    } catch {
      // removed meanwhile (another process trimming)
    }
  }
  return { entries: names.length, bytes };
}

/**
 * Removes the oldest entries beyond `most` (down to three quarters of it), and temporary files older than
 * TEMPORARY_MAX_AGE_MS (a younger one may be another process's write under way).
 */
export async function trimProgramCache(directory: string, most = MAX_ENTRIES): Promise<void> {
  const all = await readdir(directory);
  const now = Date.now();
  await Promise.all(all.filter((name) => TEMPORARY_NAME.test(name)).map(async (name) => {
    const info = await lstat(join(directory, name)).catch(() => undefined);
    if (info && !info.isDirectory() && now - info.mtimeMs > TEMPORARY_MAX_AGE_MS) await unlink(join(directory, name)).catch(() => undefined);
  }));
  const names = all.filter((name) => name.endsWith('.wasm'));
  if (names.length <= most) return;
  const aged = await Promise.all(names.map(async (name) => ({ name, at: (await lstat(join(directory, name)).catch(() => undefined))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => a.at - b.at);
  await Promise.all(aged.slice(0, names.length - Math.floor((most * 3) / 4)).map(({ name }) => unlink(join(directory, name)).catch(() => undefined)));
}

/** SHA-256 of the assembler's source (the built module, or the TypeScript one when running from the sources). */
function assemblerFingerprint(): string | undefined {
  for (const file of ['./wat-assemble.js', './wat-assemble.ts']) {
    try {
      return sha256(readFileSync(fileURLToPath(new URL(file, import.meta.url)))).toString('hex');
    } catch {
      // the other form
    }
  }
  return undefined; // no source to name the assembler by: no cache
}
