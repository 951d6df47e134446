/**
 * CPU kernel reductions: out = K·B for a symbolic K given by a formula, computed by WASM SIMD
 * code generated from the AST (`wasm-emit.ts`), split by rows over a pool of worker threads
 * that share one WebAssembly memory. K is never stored: memory is O((n + m)·d + (n + m)·k).
 */
import type { Node } from '../formula/ast.js';
import {
  emitReductionProgram, MAX_FUSED_COLUMNS, packedElements, programKey, type CpuDtype, type FormulaSlots, type PairLayout, type ReductionProgram,
  type ReductionShape,
} from './wasm-emit.js';
import { acquireMemory, awaitPrefaulted, recycleMemory, takePrefaulted } from './memory-pool.js';
import { getPool, poolTasks, poolThreads, runOnPool, timeSoloWork } from './pool.js';
import { memoryBase } from './platform.js';
import { compileWat, compileWatNow, fusedMultiplyAdd } from './programs.js';
import { transposeInMemory, transposePoints } from './points-prep.js';

/** Below this many pairs a product runs on the calling thread (a pool round trip costs ~0.1 ms). */
export const MIN_PAIRS_FOR_POOL = 1 << 17;

/**
 * Above this many pairs a product alone pays for starting the pool: it starts the pool and waits for its workers
 * (see `poolTasks`); smaller products run on the calling thread until the pool runs — a fresh process's first
 * products at n ≈ 2,000 would otherwise wait for the workers' boot, which costs more than the product on one thread.
 */
export const MAX_PAIRS_WHILE_POOL_STARTS = 1 << 22;

/** Assembles (once per program key) the WAT text into a compiled WebAssembly module. */
export function compileProgram(program: ReductionProgram): Promise<WebAssembly.Module> {
  return compileWat(program.key, () => program.wat);
}

/** `compileProgram` for a product about to run: compiled on this thread where it is not compiling yet (`compileWatNow`). */
function compileProgramNow(program: ReductionProgram): Promise<WebAssembly.Module> {
  return compileWatNow(program.key, () => program.wat);
}

const programCache = new WeakMap<Node, Map<string, ReductionProgram>>();

/** What a run computes: sums against that many right-hand sides, K stored (float64 or rounded to float32), or k-min. */
type RunMode = number | 'dense' | 'dense-f32' | 'kmin';

export function reductionProgram(
  formula: Node, slots: FormulaSlots, dtype: CpuDtype, columns: RunMode, symmetric = false,
): ReductionProgram {
  const mode = typeof columns === 'string' ? columns : columns <= MAX_FUSED_COLUMNS ? columns : 'scratch';
  // a symmetric K: sums mirror each pair, dense modes write the packed upper storage (see packedRowOffset)
  const layout: PairLayout = !symmetric ? 'full' : typeof mode === 'number' || mode === 'scratch' ? 'mirrored' : 'packed';
  const shape: ReductionShape = { dtype, columns: mode, layout, fma: fusedMultiplyAdd() };
  let perNode = programCache.get(formula);
  if (!perNode) programCache.set(formula, (perNode = new Map()));
  const k = programKey(shape, '');
  let p = perNode.get(k);
  if (!p) perNode.set(k, (p = emitReductionProgram(formula, slots, shape)));
  return p;
}

export interface ReduceOptions {
  dtype: CpuDtype;
  /** Use the worker pool (default: when n·m ≥ MIN_PAIRS_FOR_POOL and more than one core). */
  parallel?: boolean;
  /**
   * K is symmetric (K_ij = K_ji, n = m): evaluate each pair once for both K_ij·b_j and K_ji·b_i. More than
   * MAX_FUSED_COLUMNS right-hand sides use it while their float64 mirror accumulators (one n × columns block a
   * task) stay within MAX_MIRROR_BYTES; beyond, every pair is evaluated twice.
   */
  symmetric?: boolean;
}

const align16 = (b: number) => Math.ceil(b / 16) * 16;

/**
 * Computes out[r][i] = Σ_j F(x_i, y_j)·B[r][j] for every column r of B (given column-major as
 * `columns` Float64Arrays of length m). Returns `columns.length` Float64Arrays of length n.
 */
export async function reduceKernel(
  formula: Node,
  slots: FormulaSlots,
  n: number,
  m: number,
  columns: readonly Float64Array[],
  options: ReduceOptions,
): Promise<Float64Array[]> {
  const ncols = columns.length;
  if (ncols === 0) return [];
  const { memory, buf, outOffset } = await runProgram(formula, slots, n, m, columns, ncols, options);
  // one copy out of the shared memory, the columns as views of it: a Block wraps them as they are (Block.adoptColumns)
  const out = new Float64Array(buf, outOffset, ncols * n).slice();
  recycleMemory(memory);
  return Array.from({ length: ncols }, (_, r) => out.subarray(r * n, (r + 1) * n));
}

/**
 * The dense n×m matrix F(x_i, y_j) (row-major float64) by the same generated code and thread
 * pool as the products: materialising K costs about one product.
 */
export async function evaluateKernelDense(
  formula: Node,
  slots: FormulaSlots,
  n: number,
  m: number,
  options: ReduceOptions,
): Promise<Float64Array> {
  const { memory, buf, outOffset, mPad, E } = await runProgram(formula, slots, n, m, [], 'dense', options);
  const out = new Float64Array(n * m);
  const rows = E === 8 ? new Float64Array(buf, outOffset, n * mPad) : new Float32Array(buf, outOffset, n * mPad);
  for (let i = 0; i < n; i++) out.set(rows.subarray(i * mPad, i * mPad + m), i * m);
  recycleMemory(memory);
  return out;
}

/**
 * The k smallest values of F(x_i, y_j) over j for every row i, ascending, with their column indices (ties to
 * the lowest j; NaN values skipped, their slots left +∞ / −1): row-major n×k, by the generated 'kmin' program
 * over the pool. Memory O((n + m)·d + n·k).
 */
export async function reduceKmin(
  formula: Node, slots: FormulaSlots, n: number, m: number, k: number, options: ReduceOptions,
): Promise<{ values: Float64Array; indices: Int32Array }> {
  const { memory, buf, outOffset, rhsOffset } = await runProgram(formula, slots, n, m, [], 'kmin', { ...options, symmetric: false }, 0, k);
  const values = new Float64Array(buf, outOffset, n * k).slice();
  const indices = new Int32Array(buf, rhsOffset, n * k).slice();
  recycleMemory(memory);
  return { values, indices };
}

/**
 * How many row ranges a product over n×m pairs is split into: `parallel` true gives one per pool thread, false 1;
 * by default products of n·m ≥ MIN_PAIRS_FOR_POOL go to the pool when its workers run, and otherwise run on the
 * calling thread (the pool starts once that work adds up, or at once for more than MAX_PAIRS_WHILE_POOL_STARTS
 * pairs: `poolTasks`).
 */
export function rowTasks(n: number, m: number, parallel?: boolean): number {
  const tasks = parallel === undefined
    ? (n * m >= MIN_PAIRS_FOR_POOL ? poolTasks(n * m > MAX_PAIRS_WHILE_POOL_STARTS) : 1)
    : (parallel ? poolThreads() : 1);
  return Math.max(1, Math.min(tasks, n));
}

/** Instances on the calling thread by module and memory (memories are recycled, so the pairs recur). */
const instances = new WeakMap<WebAssembly.Module, WeakMap<WebAssembly.Memory, (...a: number[]) => void>>();

/**
 * The `reduce` export of `module` instantiated on `memory`, made once per pair: an instantiation cost ≈ 0.1–0.3 ms,
 * as much as a small product (block CG at n = 1,257 made one per pass, several per iteration).
 */
function reduceExport(module: WebAssembly.Module, memory: WebAssembly.Memory): (...a: number[]) => void {
  let byMemory = instances.get(module);
  if (!byMemory) instances.set(module, (byMemory = new WeakMap()));
  let reduce = byMemory.get(memory);
  if (!reduce) {
    reduce = new WebAssembly.Instance(module, { env: { mem: memory } }).exports['reduce'] as (...a: number[]) => void;
    byMemory.set(memory, reduce);
  }
  return reduce;
}

/**
 * Runs the module's `reduce` export over row ranges [boundary(t), boundary(t + 1)) for t < tasks:
 * on the calling thread for one task, else one pool task per range (all on the same shared memory).
 */
export async function runRowRanges(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  tasks: number,
  boundary: (t: number) => number,
  argsFor: (t: number, iStart: number, iEnd: number) => number[],
  onPool = tasks > 1,
): Promise<void> {
  if (!onPool) {
    // on the calling thread, the ranges in order (a split that fixes the result's rounding, see `mirrorTasks`)
    const reduce = reduceExport(module, memory);
    timeSoloWork(() => {
      for (let t = 0; t < tasks; t++) {
        const iStart = boundary(t);
        const iEnd = boundary(t + 1);
        if (iEnd > iStart || tasks === 1) reduce(...argsFor(t, iStart, iEnd));
      }
    });
    return;
  }
  const jobs: Promise<void>[] = [];
  for (let t = 0; t < tasks; t++) {
    const iStart = boundary(t);
    const iEnd = boundary(t + 1);
    if (iEnd > iStart) jobs.push(runOnPool({ module, memory, args: argsFor(t, iStart, iEnd) }));
  }
  // every range settles before a failure is reported: the caller must not reuse memory still being written
  const failed = (await Promise.allSettled(jobs)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Row ranges of equal work over a triangle of n rows (row i costs ≈ n − i): task t of `tasks` starts
 * where (1 − t/tasks) of the triangle remains, rounded to a multiple of `block` rows.
 */
export function triangleBoundary(n: number, tasks: number, block = 1): (t: number) => number {
  return (t) => (t >= tasks ? n : Math.min(n, block * Math.round((n * (1 - Math.sqrt(1 - t / tasks))) / block)));
}

/**
 * The row ranges a symmetric product of n rows is split into, each with its own mirror accumulator: one per pool thread
 * (at most n), whether the pool runs them or the calling thread does while the pool starts. Why fixed: the mirrors
 * are added range by range, so the split sets the result's rounding — with 1 range before the pool started and 2
 * after, the same product of the same inputs differed in its last bits from one process to another.
 */
export function mirrorTasks(n: number): number {
  return Math.max(1, Math.min(poolThreads(), n));
}

/**
 * Row ranges per pool thread when K is stored (`materialiseKernel`). Measured at n = 16,384 (float32, packed; fresh
 * processes, 2 threads): two ranges took 707/714, 278/280, 263/873 and 264/341 ms — the third waited 610 ms on one.
 * When page faults are cheap the extra ranges cost nothing measurable (first store + product, six fresh processes
 * each: median 425 ms with 4 a thread, 417 ms with 1).
 */
export const STORE_TASKS_PER_THREAD = 4;

/**
 * Most bytes of float64 mirror accumulators (tasks × columns × n) a symmetric product with more than MAX_FUSED_COLUMNS
 * right-hand sides takes to evaluate each pair once: 10 columns at n = 10⁶ on 2 threads (160 MB) still do, 16 threads
 * no longer (they evaluate each pair twice, with no extra memory).
 */
export const MAX_MIRROR_BYTES = 256 * 2 ** 20;

/** WebAssembly memories (wasm32) hold at most 65,536 pages of 64 KiB: 4 GiB. */
export const MAX_WASM_PAGES = 65536;

/** K materialised in a shared WebAssembly memory, row-major with row stride mPad (padding entries 0). */
export interface MaterialisedKernel {
  readonly memory: WebAssembly.Memory;
  /** Byte offset of K_00. */
  readonly offset: number;
  readonly mPad: number;
  readonly storage: CpuDtype;
  /** Byte offset of `reserveBytes` free bytes after everything else (16-aligned). */
  readonly reserveOffset: number;
  /** Symmetric K in packed storage (rows from their diagonal lane group on, see `packedRowOffset`). */
  readonly packed: boolean;
}

/**
 * K evaluated in float64 by the generated code and the thread pool, stored as `storage` in a
 * shared memory that also has `reserveBytes` free for the products that will read it (so K is
 * never copied). float32 storage rounds each float64 entry once.
 */
export async function materialiseKernel(
  formula: Node, slots: FormulaSlots, n: number, m: number, storage: CpuDtype, reserveBytes: number, packed = false,
): Promise<MaterialisedKernel> {
  const mode = storage === 'float64' ? 'dense' : 'dense-f32';
  // a store's memory is released by its owner's dispose() and recycled (see memory-pool.ts)
  const r = await runProgram(formula, slots, n, m, [], mode, { dtype: 'float64', symmetric: packed }, reserveBytes);
  return { memory: r.memory, offset: r.outOffset, mPad: r.mPad, storage, reserveOffset: r.reserveOffset, packed };
}

/**
 * Lays out a shared memory, runs the program over row ranges, returns the memory (the caller recycles it).
 * Every memory comes from the recycling pool (memory-pool.ts): a fresh memory a product would be a leak — its
 * backing store lives until each worker that was handed it collects its own handle, and an idle worker's
 * garbage collector hardly ever runs. A recycled memory is reused as the same backing store instead.
 * On failure the memory is left to the garbage collector: a terminated worker may still be writing to it.
 */
async function runProgram(
  formula: Node,
  slots: FormulaSlots,
  n: number,
  m: number,
  columns: readonly Float64Array[],
  mode: RunMode,
  options: ReduceOptions,
  reserveBytes = 0,
  k = 0,
): Promise<{ memory: WebAssembly.Memory; buf: ArrayBuffer; outOffset: number; rhsOffset: number; mPad: number; E: number; reserveOffset: number }> {
  const ncols = mode === 'kmin' ? k : columns.length;
  if (options.symmetric && n !== m) throw new Error(`internal: symmetric reduction needs n = m, got ${n}x${m}`);
  const threadTasks = rowTasks(n, m, options.parallel);
  // the worker threads boot while this thread compiles the program (the first product of a process)
  if (threadTasks > 1) getPool();
  const eachPairOnce = options.symmetric === true && (typeof mode !== 'number' || mode <= MAX_FUSED_COLUMNS || mirrorTasks(n) * ncols * m * 8 <= MAX_MIRROR_BYTES);
  const program = reductionProgram(formula, slots, options.dtype, mode, eachPairOnce);
  const mirroring = program.layout === 'mirrored';
  const packed = program.layout === 'packed';
  const E = options.dtype === 'float64' ? 8 : 4;
  const step = program.lanes * program.unroll;
  const mPad = Math.ceil(m / step) * step;
  const mFull = Math.floor(m / step) * step; // columns before the (masked) last lane group

  // a store (no sums) splits into STORE_TASKS_PER_THREAD ranges a thread, taken as threads come free: first-touch
  // page faults can slow one range several-fold on this VM, and a two-way split then waits for it
  // a mirrored product's split is fixed by the thread count (`mirrorTasks`): on the calling thread until the pool runs
  const tasks = mirroring ? mirrorTasks(n)
    : (mode === 'dense' || mode === 'dense-f32') && threadTasks > 1 ? Math.min(n, threadTasks * STORE_TASKS_PER_THREAD) : threadTasks;

  const sizes = { n, mPad, ncols, mode, k, tasks, reserveBytes };
  const bytes = programLayout(program, slots, sizes, 0).bytes;
  const pages = Math.ceil(bytes / 65536);
  if (pages > MAX_WASM_PAGES) {
    throw new RangeError(`kernel product needs ${(bytes / 2 ** 30).toFixed(2)} GiB of WASM memory (> 4 GiB); split the point sets`);
  }
  // a store takes the memory `prefaultMemory` prepared for it, if any (see DenseKernelMatrix.materialise)
  const prefaulted = mode === 'dense' || mode === 'dense-f32' ? takePrefaulted(pages) : undefined;
  const memory = prefaulted?.memory ?? acquireMemory(pages);
  // laid out from the memory's first huge-page boundary, where it has one: no 4 KiB-paged head to fault in
  const L = programLayout(program, slots, sizes, memoryBase(memory));
  const buf = memory.buffer as unknown as ArrayBuffer;
  // compiled before the memory is laid out, on this thread where not compiling already: the product waits for it
  const compiling = compileProgramNow(program);
  compiling.catch(() => undefined); // a layout error first must not leave the compile's rejection unhandled
  // the host's writes to the pages end before any of ours (this thread touching the pages it has not reached)
  if (prefaulted) await awaitPrefaulted(prefaulted);
  writeInputs(memory, L, program, slots, { n, m, mPad, mFull, columns, mode, k });

  const argsFor = (t: number, iStart: number, iEnd: number) => [
    iStart, iEnd, mPad, n, L.outOffset, L.rhsOffset, L.parOffset, L.scratchOffset + t * program.scratchBytes, ncols, mFull, L.maskOffset,
    L.outJOffset + t * L.outJBytes, L.maskTabOffset,
    ...L.iOffsets, ...L.jOffsets,
  ];
  let module: WebAssembly.Module;
  try {
    module = await compiling;
  } catch (error) {
    recycleMemory(memory); // no thread has seen it yet
    throw error;
  }
  // row ranges of equal work: a full product's rows cost the same; in symmetric and packed mode
  // row i costs n − i pairs
  const boundary = mirroring || packed ? triangleBoundary(n, tasks) : (t: number) => Math.floor((t * n) / tasks);
  await runRowRanges(module, memory, tasks, boundary, argsFor, threadTasks > 1);
  if (mirroring) addMirrors(buf, L, ncols, n, mPad, tasks);
  return { memory, buf, outOffset: L.outOffset, rhsOffset: L.rhsOffset, mPad, E, reserveOffset: L.reserveOffset };
}

/**
 * Byte offsets of a reduction program's regions in its memory (see wasm-emit.ts), from `base` on (address 0 unused),
 * and the end of the last.
 */
interface ProgramLayout {
  readonly iOffsets: number[];
  readonly jOffsets: number[];
  readonly parOffset: number;
  readonly paramDims: number;
  readonly rhsOffset: number;
  readonly outOffset: number;
  readonly outBytes: number;
  /** The last lane group's mask, then an all-ones group (a store's one loop takes it for every other group). */
  readonly maskOffset: number;
  readonly scratchOffset: number;
  /** Mirrored layout: a float64 mirror accumulator per task (outJBytes each), then the diagonal-group mask tables. */
  readonly outJOffset: number;
  readonly outJBytes: number;
  readonly maskTabOffset: number;
  readonly reserveOffset: number;
  readonly bytes: number;
}

function programLayout(
  program: ReductionProgram, slots: FormulaSlots,
  p: { n: number; mPad: number; ncols: number; mode: RunMode; k: number; tasks: number; reserveBytes: number },
  base: number,
): ProgramLayout {
  const { n, mPad, ncols, mode, k, tasks } = p;
  const E = program.dtype === 'float64' ? 8 : 4;
  const step = program.lanes * program.unroll;
  const mirroring = program.layout === 'mirrored';
  let offset = Math.max(16, base); // keep address 0 unused
  const iOffsets = slots.i.map((v) => { const o = offset; offset += align16(n * v.dim * E); return o; });
  const jOffsets = slots.j.map((v) => { const o = offset; offset += align16(v.dim * mPad * E); return o; });
  const paramDims = slots.p.reduce((s, v) => s + v.dim, 0);
  const parOffset = offset; offset += align16(paramDims * 8);
  const rhsOffset = offset; offset += align16(mode === 'kmin' ? n * k * 4 : ncols * mPad * E);
  const denseElements = program.layout === 'packed' ? packedElements(n, mPad) : n * mPad;
  const outBytes = mode === 'dense' ? denseElements * E : mode === 'dense-f32' ? denseElements * 4 : mode === 'kmin' ? n * k * 8 : ncols * n * 8;
  const outOffset = offset; offset += align16(outBytes);
  const maskOffset = offset; offset += 2 * step * E;
  const scratchOffset = offset; offset += tasks * program.scratchBytes;
  const outJBytes = mirroring ? align16(ncols * mPad * 8) : 0;
  const outJOffset = offset; offset += tasks * outJBytes;
  const maskTabOffset = offset; offset += mirroring ? (2 * step + 1) * step * E : 0;
  const reserveOffset = offset; offset += align16(p.reserveBytes);
  return {
    iOffsets, jOffsets, parOffset, paramDims, rhsOffset, outOffset, outBytes, maskOffset, scratchOffset, outJOffset, outJBytes,
    maskTabOffset, reserveOffset, bytes: offset,
  };
}

/**
 * Writes a program's inputs into its memory: the points (x_i row-major, y_j transposed to dim × mPad, padding repeating
 * the last point so that padded K entries stay finite), the parameters, the lane masks, the right-hand sides (or the
 * k-min's empty candidates) and the mirrored layout's mask tables. A recycled memory holds old data: what the programs
 * accumulate into (sums += K_ij·b_j, mirrors) and the right-hand sides' padding are cleared; stored entries (dense
 * modes) are each written once.
 */
function writeInputs(
  memory: WebAssembly.Memory, L: ProgramLayout, program: ReductionProgram, slots: FormulaSlots,
  p: { n: number; m: number; mPad: number; mFull: number; columns: readonly Float64Array[]; mode: RunMode; k: number },
): void {
  const { n, m, mPad, mFull, columns, mode, k } = p;
  const buf = memory.buffer as unknown as ArrayBuffer;
  const E = program.dtype === 'float64' ? 8 : 4;
  const step = program.lanes * program.unroll;
  const ncols = mode === 'kmin' ? k : columns.length;
  const sums = typeof mode === 'number';
  new Uint8Array(buf, L.rhsOffset, (sums ? L.outOffset + L.outBytes : L.outOffset) - L.rhsOffset).fill(0);
  new Uint8Array(buf, L.outJOffset, L.maskTabOffset - L.outJOffset).fill(0);
  const view = (byteOffset: number, length: number) =>
    E === 8 ? new Float64Array(buf, byteOffset, length) : new Float32Array(buf, byteOffset, length);

  slots.i.forEach((v, s) => view(L.iOffsets[s]!, n * v.dim).set(v.value.data));
  slots.j.forEach((v, s) => {
    // the same points as an i slot (a symmetric operator's y = x) are transposed from that copy by the program
    const i = slots.i.findIndex((u) => u.value.data === v.value.data && u.dim === v.dim);
    if (i >= 0 && transposeInMemory(memory, E, L.iOffsets[i]!, v.dim, m, mPad, L.jOffsets[s]!)) return;
    transposePoints(v.value.data, v.dim, m, mPad, view(L.jOffsets[s]!, v.dim * mPad));
  });
  const par = new Float64Array(buf, L.parOffset, L.paramDims);
  let po = 0;
  for (const v of slots.p) { par.set(v.value.data, po); po += v.dim; }
  // lane masks of the last group: all ones for real columns, zero for padding
  const mask = E === 8 ? new BigInt64Array(buf, L.maskOffset, 2 * step) : new Int32Array(buf, L.maskOffset, 2 * step);
  for (let j = 0; j < 2 * step; j++) mask[j] = (j >= step || mFull + j < m ? (E === 8 ? -1n : -1) : (E === 8 ? 0n : 0)) as never;
  if (mode === 'kmin') {
    new Float64Array(buf, L.outOffset, n * k).fill(Infinity); // empty candidate slots (see KMIN_CANDIDATE_FUNC)
    new Int32Array(buf, L.rhsOffset, n * k).fill(-1);
  } else {
    const rhs = view(L.rhsOffset, ncols * mPad);
    columns.forEach((c, r) => rhs.set(c, r * mPad)); // padding stays 0
  }
  if (program.layout === 'mirrored') {
    // tables indexed by the row's lane offset o: lanes ≥ o, lanes > o, then an all-ones group
    const ones = E === 8 ? -1n : -1;
    const zero = E === 8 ? 0n : 0;
    const tab = E === 8 ? new BigInt64Array(buf, L.maskTabOffset, (2 * step + 1) * step) : new Int32Array(buf, L.maskTabOffset, (2 * step + 1) * step);
    for (let o = 0; o < step; o++) {
      for (let l = 0; l < step; l++) {
        tab[o * step + l] = (l >= o ? ones : zero) as never;
        tab[(step + o) * step + l] = (l > o ? ones : zero) as never;
      }
    }
    for (let l = 0; l < step; l++) tab[2 * step * step + l] = ones as never;
  }
}

/** out += Σ_t outJ_t: the mirrored halves of the tasks (mirrored layout). */
function addMirrors(buf: ArrayBuffer, L: ProgramLayout, ncols: number, n: number, mPad: number, tasks: number): void {
  const out = new Float64Array(buf, L.outOffset, ncols * n);
  for (let t = 0; t < tasks; t++) {
    const mirror = new Float64Array(buf, L.outJOffset + t * L.outJBytes, ncols * mPad);
    for (let r = 0; r < ncols; r++) {
      const o = r * n;
      const q = r * mPad;
      for (let i = 0; i < n; i++) out[o + i] += mirror[q + i]!;
    }
  }
}
