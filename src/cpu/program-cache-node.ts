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
 * another version of the assembler is a miss; it holds the SHA-256 of its bytes, so a torn or altered file is a miss
 * (and removed). The directory must be the user's own and not writable by group or others — one that is not is not
 * used, with a warning: bytes found there are compiled and run (inside WebAssembly's sandbox: they can compute
 * wrong numbers, not reach the process). Writes go to a temporary file renamed into place, off the calling thread;
 * concurrent processes write the same bytes. Beyond MAX_ENTRIES the oldest entries are removed.
 */
import { Buffer } from 'node:buffer'; // imported, not the global: Deno (the notebooks) has no global Buffer
import { mkdirSync, readdirSync, readFileSync, statSync, unlink as unlinkCallback } from 'node:fs';
import { readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import process from 'node:process';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** node:crypto is loaded at the first program a process assembles or looks up, not at import (≈ 6–10 ms). */
const load = createRequire(import.meta.url);
const sha256 = () => (load('node:crypto') as typeof import('node:crypto')).createHash('sha256');

/** Entries kept (a formula's programs are 3–30 KB each): past it, the oldest quarter goes. */
export const MAX_ENTRIES = 4096;

/** The first bytes of an entry: format and version. */
const MAGIC = Buffer.from('lazylinalg wasm 1\n');
const HASH_BYTES = 32;

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
  let last: { text: string; name: string } | undefined;
  const nameOf = (text: string): string => {
    if (last?.text !== text) last = { text, name: sha256().update(salt).update('\n').update(text).digest('hex') };
    return last.name;
  };
  let temporaries = 0;
  return {
    directory,
    get(text) {
      const file = join(directory, `${nameOf(text)}.wasm`);
      let data: Buffer;
      try {
        data = readFileSync(file);
      } catch {
        return undefined; // not there (or unreadable): assembled, and written again
      }
      const start = MAGIC.length + HASH_BYTES;
      const intact = data.length > start && data.subarray(0, MAGIC.length).equals(MAGIC)
        && sha256().update(data.subarray(start)).digest().equals(data.subarray(MAGIC.length, start));
      if (!intact) {
        unlinkCallback(file, () => undefined); // torn or altered: gone, and written again after this assembly
        return undefined;
      }
      return new Uint8Array(data.subarray(start));
    },
    async put(text, bytes) {
      const name = `${nameOf(text)}.wasm`;
      const temporary = join(directory, `.${name}.${process.pid}.${temporaries++}.tmp`);
      const data = Buffer.concat([MAGIC, sha256().update(bytes).digest(), bytes]);
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
      bytes += statSync(join(directory, name)).size;
    } catch {
      // removed meanwhile (another process trimming)
    }
  }
  return { entries: names.length, bytes };
}

/** Removes the oldest entries beyond `most` (down to three quarters of it). */
export async function trimProgramCache(directory: string, most = MAX_ENTRIES): Promise<void> {
  const names = (await readdir(directory)).filter((name) => name.endsWith('.wasm'));
  if (names.length <= most) return;
  const aged = await Promise.all(names.map(async (name) => ({ name, at: (await stat(join(directory, name)).catch(() => undefined))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => a.at - b.at);
  await Promise.all(aged.slice(0, names.length - Math.floor((most * 3) / 4)).map(({ name }) => unlink(join(directory, name)).catch(() => undefined)));
}

/** SHA-256 of the assembler's source (the built module, or the TypeScript one when running from the sources). */
function assemblerFingerprint(): string | undefined {
  for (const file of ['./wat-assemble.js', './wat-assemble.ts']) {
    try {
      return sha256().update(readFileSync(fileURLToPath(new URL(file, import.meta.url)))).digest('hex');
    } catch {
      // the other form
    }
  }
  return undefined; // no source to name the assembler by: no cache
}
