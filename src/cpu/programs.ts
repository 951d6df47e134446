/**
 * Compiled WebAssembly modules, once per program key. Program text comes in two kinds:
 *
 * - formula programs, generated from a formula's AST (wasm-emit.ts), assembled when first asked for;
 * - fixed programs, whose text depends on no input: the products of a stored K, the Cholesky factor and solves, the
 *   basis sweeps, the tall products. Their modules declare them here (`fixedProgram`), and the build assembles each
 *   once (scripts/build-programs.mjs) into a table that the host may hand back (`CpuPlatform.precompiledProgram`).
 *
 * Why: a fresh process assembles its first programs in cold JavaScript — 15–25 ms for the first on the 2-vCPU VM,
 * and garbage the collector then pays for — before V8 compiles them. The table's bytes are those `assembleWat`
 * writes; each entry carries a hash of its text. A table the host can tell current (written after every module that
 * generates the texts: Node's platform) is used by key alone — the key names every parameter of the text — so the
 * texts are not even generated (their generation in cold JavaScript took 5.6 ms of the digits' eigsh and 14.6 ms of a
 * shift-invert eigsh at n = 1,500); otherwise an entry is handed back only for the text this build generates (a
 * table left from another build is not used). Every other text is looked up in the host's cache of
 * programs earlier processes assembled (`CpuPlatform.cachedProgram`; Node's on disk, src/cpu/program-cache-node.ts),
 * and what is assembled here is handed to it.
 */
import { assembleWat } from './wat-assemble.js';
import { cpuPlatform, switchSetting, watForPlatform } from './platform.js';

/** Modules by key, least recently used first (see `remember`). */
const moduleCache = new Map<string, Promise<WebAssembly.Module>>();
/** Keys whose module is compiled (its promise fulfilled). */
const compiledKeys = new Set<string>();

/**
 * Formula programs' modules kept at most; the least recently used go. Why: a formula's constants are in its text, so
 * every distinct formula compiles another module (≈ 55 KB resident), and a loop over string formulas (a
 * hyperparameter search) grew without bound: 1,500 formulas, +80 MiB. A module dropped is compiled again if asked
 * for (from the host's program cache, where it has one); the fixed programs, a few dozen, are always kept.
 */
export const MAX_FORMULA_MODULES = 256;

/** Files `m` under `key` as the most recently used, dropping the least recently used formula modules beyond the bound. */
function remember(key: string, m: Promise<WebAssembly.Module>): void {
  moduleCache.delete(key);
  moduleCache.set(key, m);
  if (moduleCache.size <= MAX_FORMULA_MODULES) return; // the common case: no count needed (per product, cheap)
  let formulas = 0;
  for (const k of moduleCache.keys()) if (!fixed.has(k)) formulas++;
  for (const k of moduleCache.keys()) {
    if (formulas <= MAX_FORMULA_MODULES) break;
    if (fixed.has(k) || k === key) continue;
    moduleCache.delete(k);
    compiledKeys.delete(k);
    formulas--;
  }
}

/** How many compiled or compiling modules are kept (tests). */
export function keptModuleCount(): number {
  return moduleCache.size;
}

/** The fixed programs declared so far: key → text. */
const fixed = new Map<string, () => string>();

/**
 * Fixed programs' modules whose asynchronous compile has ended, for `now()` to take without compiling again: a program
 * asked for ahead of its first use (`FixedProgram.prepare`) compiles on V8's background threads meanwhile, and a host
 * that compiles only asynchronously (a browser's main thread) gets it too.
 */
const settledFixed = new Map<string, WebAssembly.Module>();

let optimizingOnly = false;

/** A module of one function, `f64x2.relaxed_madd` of its three v128 parameters: valid where relaxed SIMD is accepted. */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type (v128, v128, v128) → v128
  0x03, 0x02, 0x01, 0x00, // one function of that type
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x87, 0x02, 0x0b, // its body
]);

/** Whether the host accepts relaxed SIMD (asked once; Node 20 after `enableRelaxedSimd`). */
let relaxedSimd: boolean | undefined;

/**
 * Whether formula programs accumulate their loop reductions (d ≥ 5: wasm-emit.ts) by fused multiply-adds: where the
 * host accepts relaxed SIMD — Node 20 once its V8 flag is set (`CpuPlatform.enableRelaxedSimd`), later Nodes and
 * browsers as shipped — and LAZYLINALG_FMA is not 0. Why: the loop's add was a third of its arithmetic; the digits'
 * store (d = 64, one thread) took 18.6 against 22.6 ms. Its results then depend on the hardware, as relaxed SIMD
 * allows: `relaxed_madd` rounds once on x86 with FMA3 and on arm64, twice elsewhere — the same bits on one machine,
 * not between the two kinds; LAZYLINALG_FMA=0 gives the two-rounding programs everywhere.
 */
export function fusedMultiplyAdd(): boolean {
  const platform = cpuPlatform();
  if (!switchSetting('LAZYLINALG_FMA', platform.env('LAZYLINALG_FMA'))) return false;
  if (relaxedSimd === undefined) {
    relaxedSimd = WebAssembly.validate(RELAXED_PROBE);
    if (!relaxedSimd && platform.enableRelaxedSimd) {
      platform.enableRelaxedSimd();
      relaxedSimd = WebAssembly.validate(RELAXED_PROBE);
    }
  }
  return relaxedSimd;
}

/** Kernel modules are compiled by the optimizing tier only where the host allows it (see platform-node.ts). */
export function useOptimizingCompiler(): void {
  if (optimizingOnly) return;
  cpuPlatform().optimizeWasm(); // first: a bad LAZYLINALG_WASM_TIERING fails every compile, not only the first
  optimizingOnly = true;
}

/** Compiles (once per key) the WAT text that `wat()` returns — SIMD and threads enabled. */
export function compileWat(key: string, wat: () => string): Promise<WebAssembly.Module> {
  return compile(key, wat, false);
}

/**
 * `compileWat` for a module the caller waits for at once (a product about to run): where it is not compiled or
 * compiling yet, it is compiled on this thread now, where the host allows it. Why: V8 compiles the modules asked for
 * asynchronously in the order asked, so one asked for after others waits for them — a fresh process's first product
 * waited 11 ms for a module that compiles in 3 (three fixed programs asked for before it, two cores), and the
 * calling thread had nothing else to do meanwhile.
 */
export function compileWatNow(key: string, wat: () => string): Promise<WebAssembly.Module> {
  const cached = moduleCache.get(key);
  if (cached || !cpuPlatform().syncCompile) return cached ? (remember(key, cached), cached) : compile(key, wat, false);
  useOptimizingCompiler();
  const compiled = Promise.resolve(new WebAssembly.Module(programBytes(key, wat, false) as Uint8Array<ArrayBuffer>));
  remember(key, compiled);
  compiledKeys.add(key);
  return compiled;
}

/**
 * Declares a fixed program (its text depends on nothing but `key`, which must name every parameter of `wat`) and
 * returns its compiler: the precompiled bytes where the host has them for this text, else `compileWat`'s.
 */
export function fixedProgram(key: string, wat: () => string): FixedProgram {
  if (fixed.has(key)) throw new Error(`internal: the fixed program '${key}' is declared twice`);
  fixed.set(key, wat);
  let now: WebAssembly.Module | undefined;
  const instances = new WeakMap<WebAssembly.Memory, WebAssembly.Exports>();
  const program: FixedProgram = Object.assign(() => compile(key, wat, true), {
    compiled: () => compiledKeys.has(key),
    requested: () => moduleCache.has(key),
    now: () => {
      now ??= settledFixed.get(key);
      if (now || !cpuPlatform().syncCompile) return now;
      useOptimizingCompiler();
      now = new WebAssembly.Module(programBytes(key, wat, true) as Uint8Array<ArrayBuffer>);
      if (!moduleCache.has(key)) {
        remember(key, Promise.resolve(now));
        compiledKeys.add(key);
      }
      return now;
    },
    prepare: () => {
      if (now || moduleCache.has(key)) return;
      try {
        compile(key, wat, true).catch(() => undefined);
      } catch {
        // a compile refused at once (a bad LAZYLINALG_WASM_TIERING): now() meets it again
      }
    },
    instanceOn: (memory: WebAssembly.Memory) => {
      let exports = instances.get(memory);
      if (!exports) {
        let module: WebAssembly.Module | undefined;
        try {
          module = program.now();
        } catch {
          // tried again at the next call: the cause may be mended meanwhile (a setting), and a refusal costs no compile
        }
        if (!module) return undefined;
        exports = new WebAssembly.Instance(module, { env: { mem: memory } }).exports;
        instances.set(memory, exports);
      }
      return exports;
    },
  });
  return program;
}

/** A fixed program's compiler (once per process), and whether its module is compiled already. */
export interface FixedProgram {
  (): Promise<WebAssembly.Module>;
  /** The module is compiled in this process (a call returns it without waiting on a compile). */
  compiled(): boolean;
  /** The module was asked for in this process (compiled or compiling). */
  requested(): boolean;
  /**
   * The module, compiled on this thread at the first call, for work that cannot wait (a constructor's passes); undefined
   * where the host compiles only asynchronously (a browser's main thread) and no compile asked for earlier has ended.
   */
  now(): WebAssembly.Module | undefined;
  /**
   * Asks for the module ahead of its first use: compiled on V8's background threads while the caller works, for a
   * later `now()` to take. A failed compile is left for `now()` to meet again (and its caller to fall back on). V8
   * (Node 20) begins an asynchronous compile from a task of this thread's event loop: one asked for before synchronous
   * work begins at that work's first wait (a 6 ms compile asked for before 20 ms of busy work resolved 5–8 ms after
   * it). Letting the compiles begin earlier with a turn of the loop was measured slower (bench/RESULTS.md, twenty-fourth
   * session): on 2 vCPUs they then compete for the second core with the prefaults the calling thread waits for.
   */
  prepare(): void;
  /**
   * The module instantiated on `memory` (once per memory: memories are recycled, so the pairs recur), for work whose
   * callers keep plain loops giving the same results: undefined where `now()` has no module (a host that compiles only
   * asynchronously) or its compile failed — tried again at the next call.
   */
  instanceOn(memory: WebAssembly.Memory): WebAssembly.Exports | undefined;
}

/** Every fixed program declared by the modules loaded so far (the build's table holds these). */
export function fixedPrograms(): ReadonlyMap<string, () => string> {
  return fixed;
}

/** The precompiled table's key of a fixed program's text for a host with or without shared memories. */
export const precompiledKey = (key: string, shared: boolean): string => `${key}|${shared ? 'shared' : 'unshared'}`;

/**
 * How many modules were assembled here, came precompiled, or came from the host's cache of earlier processes, and how
 * many programs' texts were generated (tests and benches read it).
 */
export const programCounts = { assembled: 0, precompiled: 0, cached: 0, texts: 0 };

function compile(key: string, wat: () => string, precompiled: boolean): Promise<WebAssembly.Module> {
  let m = moduleCache.get(key);
  if (!m) {
    useOptimizingCompiler();
    // V8 validates on compile (the assembler checks syntax only); compilation runs on V8's background threads
    const compiling = (async () => WebAssembly.compile(programBytes(key, wat, precompiled) as Uint8Array<ArrayBuffer>))();
    m = compiling;
    // only while it is still the one kept under the key (dropped meanwhile: nothing to mark)
    compiling.then((module) => {
      if (moduleCache.get(key) !== compiling) return;
      compiledKeys.add(key);
      if (fixed.has(key)) settledFixed.set(key, module);
    }, () => { if (moduleCache.get(key) === compiling) moduleCache.delete(key); });
  }
  remember(key, m);
  return m;
}

function programBytes(key: string, wat: () => string, precompiled: boolean): Uint8Array {
  const platform = cpuPlatform();
  // generated only where needed: a current table hands a fixed program back by its key alone
  let generated: string | undefined;
  const textOf = (): string => {
    if (generated === undefined) programCounts.texts++;
    return (generated ??= watForPlatform(wat()));
  };
  const hostKey = precompiledKey(key, platform.sharedMemory);
  const bytes = precompiled ? platform.precompiledProgram?.(hostKey, textOf) : undefined;
  if (bytes) {
    programCounts.precompiled++;
    return bytes;
  }
  // a formula program kept by an earlier process under its key: its text is not even emitted (3–6 ms of cold
  // JavaScript for a fresh process's store program: the digits' at d = 64, a Laplacian's at d = 3)
  const name = precompiled ? undefined : platform.programName?.(hostKey);
  const named = name === undefined ? undefined : platform.cachedProgram?.(name);
  if (named) {
    programCounts.cached++;
    return named;
  }
  const text = textOf();
  const cached = platform.cachedProgram?.(text);
  if (cached) {
    programCounts.cached++;
    if (name !== undefined) platform.keepProgram?.(name, cached);
    return cached;
  }
  programCounts.assembled++;
  const assembled = assembleWat(text);
  platform.keepProgram?.(text, assembled);
  if (name !== undefined) platform.keepProgram?.(name, assembled);
  return assembled;
}
