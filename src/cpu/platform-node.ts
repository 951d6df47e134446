/** The CPU platform of Node: cores and memory from `node:os`, piscina worker threads, V8's flags. */
import { Buffer } from 'node:buffer'; // imported, not the global: Deno (the notebooks) has no global Buffer in a module
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { installCpuPlatform, switchSetting, type CpuPlatform } from './platform.js';
import { nativeHelper, nativeHelperMissing, prefaultPages, sha256, type NativeHelper } from './native-node.js';
import { openProgramCache, programCacheDirectory, type ProgramCache } from './program-cache-node.js';

/** Loads what only some processes need (piscina, the precompiled table) at first use, not at import. */
const load = createRequire(import.meta.url);

export const nodePlatform: CpuPlatform = {
  name: 'node',
  sharedMemory: true,
  cores: () => availableParallelism(),
  totalMemory: () => totalmem(),
  env: (name) => process.env[name],
  warn: (message, code) => process.emitWarning(message, { code }),
  /**
   * Kernel modules are compiled by V8's optimizing compiler only (`--no-liftoff`) from the first compile on. With
   * the default baseline-first tiering, the first product of a new program runs entirely in baseline code — a wasm
   * call does not switch tiers mid-call and each worker runs one long call — measured 9.3 s instead of 0.63 s for a
   * first 64-column product at n = 8,000. And eagerly (`--no-wasm-lazy-compilation`): Node 20's V8 otherwise compiles
   * each function at its first call, on the calling thread, so that `WebAssembly.compile` overlapped nothing — the
   * packed product compiled at the first product after K was stored instead of while it was. And without TurboFan's
   * loop unrolling (`--no-wasm-loop-unrolling`): it unrolled the formula programs' loop over a large dimension (d > 32)
   * into code slower than the loop — the digits' store (d = 64) 30–33 against 23–25 ms, a symbolic product at d = 64
   * 74–82 against 53–56 ms — and it lengthened every compile (the fixed programs of a shift-invert eigsh: 53 against
   * 46 ms of CPU, the spare core's work in a fresh process). The short loops it did speed up are unrolled in their
   * programs' text instead (wat-loops.ts), to about the same or better speed and the same bits. LAZYLINALG_WASM_TIERING=
   * default leaves V8 as it is.
   */
  optimizeWasm: () => {
    const tiering = process.env['LAZYLINALG_WASM_TIERING']?.trim() ?? '';
    if (tiering !== '' && tiering !== 'default') {
      throw new RangeError(`LAZYLINALG_WASM_TIERING must be 'default' (leave V8's tiering as it is) or unset, got '${process.env['LAZYLINALG_WASM_TIERING']}'`);
    }
    if (tiering === '') setFlagsFromString('--no-liftoff --no-wasm-lazy-compilation --no-wasm-loop-unrolling');
  },
  /** Node 20's V8 (11.3) has relaxed SIMD behind this flag; later V8s ship it (programs.ts asks only where it is missing). */
  enableRelaxedSimd: () => setFlagsFromString('--experimental-wasm-relaxed-simd'),
  syncCompile: true,
  createPool: (threads) => {
    // each worker adds 1 here once its module runs (pool-worker.cjs): readiness without waiting for 'online' events
    const booted = new Int32Array(new SharedArrayBuffer(4));
    // piscina is loaded when a pool first starts, not at import: ≈ 30 ms and 1 MiB of heap that a process whose work
    // stays on the calling thread (the ski-rental rule of pool.ts) never needs
    const { Piscina } = load('piscina') as typeof import('piscina');
    const pool = new Piscina({
      filename: new URL('./pool-worker.cjs', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      // one task per worker at a time: tasks are already sized to one row range per core
      concurrentTasksPerWorker: 1,
      idleTimeout: 30_000,
      workerData: { booted: booted.buffer },
    });
    return Object.assign(pool, { booted: () => Atomics.load(booted, 0) });
  },
  /**
   * Fresh pages written on libuv's thread pool, which makes them present for the caller's (a read of /dev/zero into
   * them, written by the kernel, left the first touches of a 14 MiB memory at half their cost, 20 against 41 ms; after
   * the writes 0.3 ms): by the native helper, else by node:crypto's randomFill (native-node.ts). One part, one thread:
   * more would take the calling thread's core too.
   */
  prefault: prefaultPages,
  adviseHugePages: (bytes) => {
    const helper = hugePagesHelper();
    const boundary = helper?.adviseHugePages(bytes) ?? -1;
    return boundary >= 0 ? boundary : undefined;
  },
  hugePageBytes: () => hugePagesHelper()?.hugePageBytes,
  precompiledProgram,
  cachedProgram: (text) => programCache()?.get(text),
  programName,
  keepProgram: (text, bytes) => {
    const cache = programCache();
    if (cache) void cache.put(text, bytes);
  },
};

/** The program cache LAZYLINALG_PROGRAM_CACHE names, opened once per value (a test may change it). */
let opened: { raw: string | undefined; cache: ProgramCache | undefined } | undefined;

function programCache(): ProgramCache | undefined {
  const raw = process.env['LAZYLINALG_PROGRAM_CACHE'];
  if (opened && opened.raw === raw) return opened.cache;
  const directory = programCacheDirectory(raw, (name) => process.env[name]);
  const cache = directory === undefined ? undefined
    : openProgramCache(directory, (raw?.trim() ?? '') !== '', (message) => process.emitWarning(message, { code: 'LAZYLINALG_PROGRAM_CACHE' }));
  opened = { raw, cache };
  return cache;
}

/** The hash a precompiled program's entry holds of its text (SHA-256, base64): native, where a JS loop over the text ran cold. */
export function programTextHash(text: string): string {
  return sha256(text).toString('base64');
}

/** The build's table of fixed programs: key → the hash of its text and its bytes (base64). */
export type PrecompiledTable = Record<string, { hash: string; bytes: string }>;

/**
 * A `precompiledProgram` over `table`: an entry's bytes by its key alone where `current()` (asked once) says the table
 * was written by the build that wrote the programs' generators, else only for the text it was made from.
 */
export function precompiledLookup(
  table: () => PrecompiledTable, current: () => boolean = () => false,
): (key: string, text: () => string) => Uint8Array | undefined {
  let entries: PrecompiledTable | undefined;
  let trusted: boolean | undefined;
  return (key, text) => {
    entries ??= table();
    const entry = Object.hasOwn(entries, key) ? entries[key] : undefined;
    if (!entry) return undefined;
    trusted ??= current();
    return trusted || entry.hash === programTextHash(text()) ? new Uint8Array(Buffer.from(entry.bytes, 'base64')) : undefined;
  };
}

/** The table's file name, beside this module in dist/cpu. */
const TABLE_FILE = 'precompiled-programs.json';

/**
 * Whether the table in `directory` is at least as new as every module there and in the `others` directories (make's
 * rule): then the build wrote it after them (scripts/build-programs.mjs runs after tsc, from those modules), and its
 * entries are those modules' programs — the fixed programs' generators are all in dist/cpu (what they import from
 * elsewhere are types), the formula emitter's in dist/cpu and dist/formula. A module written since (tsc alone, an
 * edit) makes it not current; so does anything unreadable. ≈ 1–1.6 ms in a fresh process for dist/cpu's two dozen
 * stats, against the texts' generation it spares.
 */
export function precompiledTableIsCurrent(directory: string, others: readonly string[] = []): boolean {
  const written = tableWritten(directory);
  return written !== undefined && [directory, ...others].every((dir) => noModuleNewer(dir, written));
}

/** When the table in `directory` was written (ms), or undefined where it cannot be read. */
function tableWritten(directory: string): number | undefined {
  try {
    return statSync(join(directory, TABLE_FILE)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Whether no module in `dir` was written after `written` (false where the directory cannot be read). */
function noModuleNewer(dir: string, written: number): boolean {
  try {
    return readdirSync(dir).every((name) => !name.endsWith('.js') || statSync(join(dir, name)).mtimeMs <= written);
  } catch {
    return false;
  }
}

/**
 * `precompiledTableIsCurrent` for the build's own table (beside this module) and `dirs`, once per process: the table's
 * date read once, each directory's modules stat'ed once.
 */
const currentFor = new Map<string, boolean>();
let builtAt: number | null | undefined;
function buildTableIsCurrent(dirs: readonly string[]): boolean {
  builtAt ??= tableWritten(here()) ?? null;
  const written = builtAt;
  return written !== null && dirs.every((dir) => {
    let current = currentFor.get(dir);
    if (current === undefined) currentFor.set(dir, (current = noModuleNewer(dir, written)));
    return current;
  });
}

/** The build's table as written (scripts/build-programs.mjs): the fixed programs, and the digest of the generating modules. */
interface BuildTable {
  programs: PrecompiledTable;
  /** SHA-256 (hex) of dist/cpu's and dist/formula's modules, names and contents, when the table was written. */
  build?: string;
}

const here = (): string => fileURLToPath(new URL('.', import.meta.url));

/**
 * The table `npm run build` writes beside this module (dist/cpu/precompiled-programs.json, scripts/build-programs.mjs),
 * read at the first program a process compiles; absent when running from the sources, and an unreadable one counts as
 * none: every program is then assembled, to the same bytes.
 */
let table: BuildTable | undefined;
function buildTable(): BuildTable {
  if (!table) {
    try {
      // read and parsed, not require()d: the CommonJS loader's JSON path took 2.0–2.2 ms of a fresh process, this 0.5–0.6
      table = JSON.parse(readFileSync(new URL(`./${TABLE_FILE}`, import.meta.url), 'utf8')) as BuildTable;
    } catch {
      table = { programs: {} };
    }
  }
  return table;
}

const lookup = precompiledLookup(() => buildTable().programs, () => buildTableIsCurrent([here()]));

/**
 * `CpuPlatform.programName`: the build's digest where its table is current for the emitter's modules too (dist/cpu
 * and dist/formula), asked once; else none. Why the digest: packages from the registry carry one date on every file,
 * so two versions' tables are equally "current" — their digests differ.
 */
let formulaBuild: string | null | undefined;
function programName(key: string): string | undefined {
  if (formulaBuild === undefined) {
    const build = buildTable().build;
    // dist/cpu's modules were stat'ed already where a fixed program came from the table first
    formulaBuild = build !== undefined && buildTableIsCurrent([here(), join(here(), '..', 'formula')]) ? build : null;
  }
  return formulaBuild === null ? undefined : `lazylinalg program ${formulaBuild}\n${key}`;
}

function precompiledProgram(key: string, text: () => string): Uint8Array | undefined {
  return lookup(key, text);
}

/**
 * The native helper (native-node.ts) for huge pages, undefined where they are off (LAZYLINALG_HUGEPAGES=0) or there is
 * no helper — then memories get the kernel's default pages, as before. Why: under the common `madvise` setting V8's
 * memories get 4 KiB pages, one fault each, where numpy's arrays get 2 MiB ones; a fresh 14 MiB memory (the digits'
 * packed K) took 39 ms of faults against 1–7 ms with the helper (2-vCPU AMD EPYC VM, Firecracker).
 */
function hugePagesHelper(): NativeHelper | undefined {
  return hugePagesOff() === undefined ? nativeHelper() : undefined;
}

/** Why memories do not ask for huge pages, or undefined where they do. */
function hugePagesOff(): string | undefined {
  if (!switchSetting('LAZYLINALG_HUGEPAGES', process.env['LAZYLINALG_HUGEPAGES'])) return 'LAZYLINALG_HUGEPAGES=0';
  return nativeHelperMissing();
}

/** Whether memories ask for huge pages, and if not why (`lazylinalg info`, tests). */
export function hugePagesStatus(): { on: true } | { on: false; reason: string } {
  const reason = hugePagesOff();
  return reason === undefined ? { on: true } : { on: false, reason };
}

installCpuPlatform(nodePlatform);
