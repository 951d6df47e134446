/**
 * Products with a stored tall matrix F (n×r, row-major float64, r ≪ n) — a low-rank preconditioner's factor — by WASM
 * SIMD over the worker pool: F·Z (Z r×k) split by rows of F, and Fᵀ·X (X n×k) split by columns of F (each task owns
 * rows of the r×k output, so no task's sums need adding to another's). F is copied once into a shared memory that the
 * products reuse; blocks are row-major with k padded to an even count (one f64x2 per column pair).
 *
 * At n = 20,000, r = 566 and the 33 columns of a block CG, each product is 3.7·10⁸ multiply-adds: one JS thread took
 * seconds per CG iteration for the two of a Woodbury application.
 */
import { fixedProgram } from './programs.js';
import { vectorLoop } from './wat-loops.js';
import { runRowRanges } from './reduce.js';
import { newWasmMemory } from './platform.js';
import { poolTasks } from './pool.js';

/** Multiply-adds from which a product goes to the pool (below it runs on the calling thread, still in WASM). */
const POOL_WORK = 1 << 21;

const PAGE = 65536;
const align16 = (b: number) => Math.ceil(b / 16) * 16;

/**
 * Rows of `rows` (4 or 1) at a time: acc(c) += Σ_q a_q · b_q(c) over the column pairs c, with `a_q` splat scalars
 * and `b_q` row pointers, the accumulator row at $acc. Shared by both products (their loops differ only in what runs).
 */
function pairLoop(rows: number, start = '(i32.const 0)'): string[] {
  let sum = '(v128.load (i32.add (local.get $acc) (local.get $c)))';
  for (let q = 0; q < rows; q++) sum = `(f64x2.add ${sum} (f64x2.mul (local.get $a${q}) (v128.load (i32.add (local.get $b${q}) (local.get $c)))))`;
  return [
    `(local.set $c ${start})`,
    ...vectorLoop('c', 'c', '(local.get $kBytes)', [`(v128.store (i32.add (local.get $acc) (local.get $c)) ${sum})`]),
  ];
}

function zeroRow(): string[] {
  return [
    '(local.set $c (i32.const 0))',
    ...vectorLoop('z', 'c', '(local.get $kBytes)', [`(v128.store (i32.add (local.get $acc) (local.get $c)) (v128.const i64x2 0 0))`]),
  ];
}

const LOCALS = '(local $c i32) (local $t i32) (local $i i32) (local $acc i32) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $b0 i32) (local $b1 i32) (local $b2 i32) (local $b3 i32)';

/** out[i,:] = Σ_{t<len} F[i,t]·Z[t,:] for the rows i in [iStart, iEnd); F's row stride r doubles, Z's and out's kBytes. */
export function tallMulWat(): string {
  const block = (rows: number, label: string): string[] => [
    `(block $${label}Done (loop $${label}`,
    `(br_if $${label}Done (i32.gt_u (i32.add (local.get $t) (i32.const ${rows})) (local.get $len)))`,
    ...Array.from({ length: rows }, (_, q) => [
      `(local.set $a${q} (f64x2.splat (f64.load (i32.add (local.get $F) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $r)) (i32.add (local.get $t) (i32.const ${q}))) (i32.const 3))))))`,
      `(local.set $b${q} (i32.add (local.get $Z) (i32.mul (i32.add (local.get $t) (i32.const ${q})) (local.get $kBytes))))`,
    ]).flat(),
    ...pairLoop(rows),
    `(local.set $t (i32.add (local.get $t) (i32.const ${rows})))`,
    `(br $${label})))`,
  ];
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "reduce") (param $iStart i32) (param $iEnd i32) (param $F i32) (param $r i32) (param $Z i32) (param $kBytes i32) (param $out i32) (param $len i32)',
    LOCALS,
    '(local.set $i (local.get $iStart))',
    '(block $rowsDone (loop $rows',
    '(br_if $rowsDone (i32.ge_u (local.get $i) (local.get $iEnd)))',
    '(local.set $acc (i32.add (local.get $out) (i32.mul (local.get $i) (local.get $kBytes))))',
    ...zeroRow(),
    '(local.set $t (i32.const 0))',
    ...block(4, 'four'),
    ...block(1, 'one'),
    '(local.set $i (i32.add (local.get $i) (i32.const 1)))',
    '(br $rows)))',
    '))',
  ].join('\n');
}

/**
 * out[i] = Σ_{t<len} F[i,t]·z[t] for the rows i in [iStart, iEnd): one column, a dot product per row along F's row,
 * two lanes at a time with four accumulators (eight entries per iteration) and a scalar tail. The block loop above
 * splats one entry of F per multiply and fills only one lane of each pair when k = 1 (the padding column).
 */
export function tallMatvecWat(): string {
  const lane = (q: number) => `(f64x2.mul (v128.load offset=${16 * q} (local.get $p)) (v128.load offset=${16 * q} (local.get $q)))`;
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "reduce") (param $iStart i32) (param $iEnd i32) (param $F i32) (param $r i32) (param $Z i32) (param $out i32) (param $len i32)',
    '(local $i i32) (local $p i32) (local $q i32) (local $end i32) (local $s f64)',
    '(local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)',
    '(local.set $i (local.get $iStart))',
    '(block $rowsDone (loop $rows',
    '(br_if $rowsDone (i32.ge_u (local.get $i) (local.get $iEnd)))',
    '(local.set $p (i32.add (local.get $F) (i32.shl (i32.mul (local.get $i) (local.get $r)) (i32.const 3))))',
    '(local.set $q (local.get $Z))',
    '(local.set $end (i32.add (local.get $p) (i32.shl (local.get $len) (i32.const 3))))',
    '(local.set $a0 (v128.const i64x2 0 0)) (local.set $a1 (v128.const i64x2 0 0)) (local.set $a2 (v128.const i64x2 0 0)) (local.set $a3 (v128.const i64x2 0 0))',
    '(block $eightDone (loop $eight',
    '(br_if $eightDone (i32.gt_u (i32.add (local.get $p) (i32.const 64)) (local.get $end)))',
    ...[0, 1, 2, 3].map((q) => `(local.set $a${q} (f64x2.add (local.get $a${q}) ${lane(q)}))`),
    '(local.set $p (i32.add (local.get $p) (i32.const 64)))',
    '(local.set $q (i32.add (local.get $q) (i32.const 64)))',
    '(br $eight)))',
    '(local.set $a0 (f64x2.add (f64x2.add (local.get $a0) (local.get $a1)) (f64x2.add (local.get $a2) (local.get $a3))))',
    '(local.set $s (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))',
    '(block $tailDone (loop $tail',
    '(br_if $tailDone (i32.ge_u (local.get $p) (local.get $end)))',
    '(local.set $s (f64.add (local.get $s) (f64.mul (f64.load (local.get $p)) (f64.load (local.get $q)))))',
    '(local.set $p (i32.add (local.get $p) (i32.const 8)))',
    '(local.set $q (i32.add (local.get $q) (i32.const 8)))',
    '(br $tail)))',
    '(f64.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 3))) (local.get $s))',
    '(local.set $i (i32.add (local.get $i) (i32.const 1)))',
    '(br $rows)))',
    '))',
  ].join('\n');
}

/**
 * out[t,:] = Σ_i F[i,t]·X[i,:] for the columns t in [tStart, tEnd) of F (n rows, row stride r doubles); `upper` (X = F,
 * for FᵀF) sums only the columns c from t's pair on: the upper triangle, half the work.
 */
export function tallCrossWat(upper = false): string {
  const start = upper ? '(i32.shl (i32.and (local.get $t) (i32.const -2)) (i32.const 3))' : undefined;
  const block = (rows: number, label: string): string[] => [
    `(block $${label}Done (loop $${label}`,
    `(br_if $${label}Done (i32.gt_u (i32.add (local.get $i) (i32.const ${rows})) (local.get $n)))`,
    ...Array.from({ length: rows }, (_, q) => `(local.set $b${q} (i32.add (local.get $X) (i32.mul (i32.add (local.get $i) (i32.const ${q})) (local.get $kBytes))))`),
    '(local.set $t (local.get $tStart))',
    '(block $tDone (loop $tLoop',
    '(br_if $tDone (i32.ge_u (local.get $t) (local.get $tEnd)))',
    ...Array.from({ length: rows }, (_, q) =>
      `(local.set $a${q} (f64x2.splat (f64.load (i32.add (local.get $F) (i32.shl (i32.add (i32.mul (i32.add (local.get $i) (i32.const ${q})) (local.get $r)) (local.get $t)) (i32.const 3))))))`),
    '(local.set $acc (i32.add (local.get $out) (i32.mul (local.get $t) (local.get $kBytes))))',
    ...pairLoop(rows, start),
    '(local.set $t (i32.add (local.get $t) (i32.const 1)))',
    '(br $tLoop)))',
    `(local.set $i (i32.add (local.get $i) (i32.const ${rows})))`,
    `(br $${label})))`,
  ];
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "reduce") (param $tStart i32) (param $tEnd i32) (param $F i32) (param $r i32) (param $n i32) (param $X i32) (param $kBytes i32) (param $out i32)',
    LOCALS,
    '(local.set $t (local.get $tStart))',
    '(block $zeroDone (loop $zero',
    '(br_if $zeroDone (i32.ge_u (local.get $t) (local.get $tEnd)))',
    '(local.set $acc (i32.add (local.get $out) (i32.mul (local.get $t) (local.get $kBytes))))',
    ...zeroRow(),
    '(local.set $t (i32.add (local.get $t) (i32.const 1)))',
    '(br $zero)))',
    '(local.set $i (i32.const 0))',
    ...block(4, 'four'),
    ...block(1, 'one'),
    '))',
  ].join('\n');
}

/** Calling thread below POOL_WORK; the pool's threads above (started for work of 4·POOL_WORK and more). */
const compileTallMatvec = fixedProgram('tall-matvec', tallMatvecWat);
const compileTallMul = fixedProgram('tall-mul', tallMulWat);
const compileTallCross = fixedProgram('tall-cross', () => tallCrossWat());
const compileTallGram = fixedProgram('tall-gram', () => tallCrossWat(true));

function taskCount(work: number, units: number): number {
  return Math.max(1, Math.min(units, work >= POOL_WORK ? poolTasks(work >= 4 * POOL_WORK) : 1));
}

const split = (count: number, tasks: number) => (t: number) => Math.min(count, Math.round((count * t) / tasks));
/** Boundaries of equal work where unit t costs count − t (the rows of an upper triangle). */
const splitTriangle = (count: number, tasks: number) => (t: number) => (t >= tasks ? count : Math.round(count * (1 - Math.sqrt(1 - t / tasks))));

/** A stored n×r float64 matrix F and its products F·Z, Fᵀ·X (row-major blocks of k columns). */
export class TallMatrix {
  readonly rows: number;
  readonly cols: number;
  private readonly data: Float64Array; // the caller's array, or a view of the memory (`zeros`)
  private memory: WebAssembly.Memory | undefined;
  private capacity = 0; // columns k the memory has room for
  private queue: Promise<unknown> = Promise.resolve(); // products share the workspace: one at a time

  /**
   * A zero n×r matrix whose entries live in its WebAssembly memory from the start (`data` is a view of it): filled by
   * `setColumns`, it is written once — no JS copy to fill first, no copy of it into the memory at the first product.
   */
  static zeros(rows: number, cols: number, reserveColumns = 0): TallMatrix {
    const kPad = Math.max(2, reserveColumns + (reserveColumns & 1));
    const memory = newMemory(rows, cols, kPad);
    return new TallMatrix(new Float64Array(memory.buffer, 0, rows * cols), rows, cols, kPad, memory);
  }

  /**
   * `reserveColumns`: blocks of up to this many columns fit the first memory made (untouched room costs no pages), so
   * that a factor built column by column, then multiplied by wider blocks, is copied into a memory once.
   */
  constructor(data: Float64Array, rows: number, cols: number, reserveColumns = 0, memory?: WebAssembly.Memory) {
    if (data.length !== rows * cols) throw new RangeError(`TallMatrix: ${data.length} entries for ${rows}x${cols}`);
    this.data = data;
    this.rows = rows;
    this.cols = cols;
    this.capacity = reserveColumns + (reserveColumns & 1);
    this.memory = memory; // `zeros`: data is its view
  }

  /** F's entries, row-major: the constructor's array, or (`zeros`) a view of the memory. */
  view(): Float64Array {
    return this.data;
  }

  /** F·Z for Z r×k (row-major): n×k, row-major; with `len` < r, F[:, :len]·Z[:len, :] (Z's other rows unread). */
  mul(Z: Float64Array, k: number, len = this.cols): Promise<Float64Array> {
    if (!(Number.isInteger(len) && len >= 0 && len <= this.cols)) return Promise.reject(new RangeError(`TallMatrix.mul: len ${len} outside 0…${this.cols}`));
    return this.serial(() => this.mulNow(Z, k, len));
  }

  /** Sets column t of F to `values` (n entries), in the stored copy too. */
  setColumn(t: number, values: Float64Array): Promise<void> {
    return this.setColumns(t, 1, values);
  }

  /**
   * Sets columns t0 … t0 + count − 1 of F from `values` (count columns of n entries each, one after another), in the
   * stored copy too: row by row, so each row's count entries land in one cache line or two rather than count strided
   * writes a row apart (a pivoted Cholesky writing one column per step spent seconds in those misses at n = 20,000).
   */
  setColumns(t0: number, count: number, values: Float64Array): Promise<void> {
    return this.serial(async () => {
      const { rows: n, cols: r } = this;
      if (!(Number.isInteger(t0) && Number.isInteger(count) && t0 >= 0 && count >= 0 && t0 + count <= r) || values.length < n * count) {
        throw new RangeError(`TallMatrix.setColumns: columns ${t0}…${t0 + count - 1} of ${r} from ${values.length} values (${n} rows)`);
      }
      const copy = this.memory ? new Float64Array(this.memory.buffer, 0, n * r) : undefined;
      const targets = copy && copy.buffer !== this.data.buffer ? [this.data, copy] : [this.data];
      for (const f of targets) {
        for (let i = 0; i < n; i++) {
          const at = i * r + t0;
          for (let c = 0; c < count; c++) f[at + c] = values[c * n + i]!;
        }
      }
    });
  }

  /** Fᵀ·X for X n×k (row-major): r×k, row-major. */
  crossT(X: Float64Array, k: number): Promise<Float64Array> {
    return this.serial(() => this.crossNow(X, k));
  }

  /** The Gram matrix FᵀF (r×r, row-major): its upper triangle summed, the lower one mirrored from it. */
  gram(): Promise<Float64Array> {
    return this.serial(async () => {
      const r = this.cols;
      const G = await this.crossNow(undefined, r, true);
      for (let t = 1; t < r; t++) for (let c = 0; c < t; c++) G[t * r + c] = G[c * r + t]!;
      return G;
    });
  }

  private serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async mulNow(Z: Float64Array, k: number, len: number): Promise<Float64Array> {
    const { rows: n, cols: r } = this;
    if (Z.length !== r * k) throw new RangeError(`TallMatrix.mul: ${Z.length} entries for ${r}x${k}`);
    const L = this.layout(k);
    if (k === 1) {
      // z and the output unpadded: one dot product per row (tallMatvecWat)
      const f = new Float64Array(L.memory.buffer);
      f.set(Z, L.inOffset / 8);
      const module = await compileTallMatvec();
      const tasks = taskCount(n * len, n);
      await runRowRanges(module, L.memory, tasks, split(n, tasks), (_t, a, b) => [a, b, 0, r, L.inOffset, L.outOffset, len]);
      return new Float64Array(L.memory.buffer).slice(L.outOffset / 8, L.outOffset / 8 + n);
    }
    const f = new Float64Array(L.memory.buffer);
    writePadded(f, L.inOffset / 8, Z, r, k, L.kPad);
    const module = await compileTallMul();
    const tasks = taskCount(n * len * k, n);
    await runRowRanges(module, L.memory, tasks, split(n, tasks), (_t, a, b) => [a, b, 0, r, L.inOffset, L.kPad * 8, L.outOffset, len]);
    return readPadded(new Float64Array(L.memory.buffer), L.outOffset / 8, n, k, L.kPad);
  }

  /** Fᵀ·X, or FᵀF where X is undefined: read from F's own copy for an even r (no n×r input written, no room for one). */
  private async crossNow(X: Float64Array | undefined, k: number, upper = false): Promise<Float64Array> {
    const { rows: n, cols: r } = this;
    if (X && X.length !== n * k) throw new RangeError(`TallMatrix.crossT: ${X.length} entries for ${n}x${k}`);
    const L = X ? this.layout(k) : this.gramLayout();
    const input = X ?? (L.inOffset === 0 ? undefined : this.data); // odd r: F copied padded
    if (input) writePadded(new Float64Array(L.memory.buffer), L.inOffset / 8, input, n, k, L.kPad);
    const module = await (upper ? compileTallGram() : compileTallCross());
    const tasks = taskCount(upper ? (n * r * k) / 2 : n * r * k, r);
    const boundary = upper ? splitTriangle(r, tasks) : split(r, tasks);
    await runRowRanges(module, L.memory, tasks, boundary, (_t, a, b) => [a, b, 0, r, n, L.inOffset, L.kPad * 8, L.outOffset]);
    return readPadded(new Float64Array(L.memory.buffer), L.outOffset / 8, r, k, L.kPad);
  }

  /** FᵀF reads F at 0 as its input (row stride r: r even, so F's rows are its own padded layout); only r×r of output room. */
  private gramLayout(): { memory: WebAssembly.Memory; inOffset: number; outOffset: number; kPad: number } {
    const r = this.cols;
    if (r % 2 === 1) return this.layout(r);
    const k = Math.ceil((r * r) / Math.max(this.rows, r)); // input room (unused here) and output room together hold r×r
    const { memory, inOffset } = this.layout(k + (k & 1));
    return { memory, inOffset: 0, outOffset: inOffset, kPad: r };
  }

  /** F at 0, then room for an n×kPad input and an n×kPad output; a wider k than before gets a larger memory (F copied once). */
  private layout(k: number): { memory: WebAssembly.Memory; inOffset: number; outOffset: number; kPad: number } {
    const kPad = k + (k & 1);
    const fBytes = align16(this.data.length * 8);
    if (!this.memory || kPad > this.capacity) {
      const cap = Math.max(kPad, this.capacity); // a first memory honours reserveColumns
      this.memory = newMemory(this.rows, this.cols, cap);
      new Float64Array(this.memory.buffer, 0, this.data.length).set(this.data);
      this.capacity = cap;
    }
    const room = align16(Math.max(this.rows, this.cols) * this.capacity * 8);
    return { memory: this.memory, inOffset: fBytes, outOffset: fBytes + room, kPad };
  }
}

/** A memory for an n×r F and blocks of `cap` columns (see `TallMatrix.layout`). */
function newMemory(rows: number, cols: number, cap: number): WebAssembly.Memory {
  const bytes = align16(rows * cols * 8) + 2 * align16(Math.max(rows, cols) * cap * 8);
  if (bytes > 65536 * PAGE) throw new RangeError(`TallMatrix: ${rows}x${cols} with ${cap} columns needs ${bytes} bytes, over the 4 GiB of a WebAssembly memory`);
  return newWasmMemory(Math.ceil(bytes / PAGE));
}

function writePadded(f: Float64Array, at: number, src: Float64Array, rows: number, k: number, kPad: number): void {
  if (kPad === k) { f.set(src, at); return; }
  for (let i = 0; i < rows; i++) {
    f.set(src.subarray(i * k, (i + 1) * k), at + i * kPad);
    f[at + i * kPad + k] = 0;
  }
}

function readPadded(f: Float64Array, at: number, rows: number, k: number, kPad: number): Float64Array {
  if (kPad === k) return f.slice(at, at + rows * k);
  const out = new Float64Array(rows * k);
  for (let i = 0; i < rows; i++) out.set(f.subarray(at + i * kPad, at + i * kPad + k), i * k);
  return out;
}
