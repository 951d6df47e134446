/**
 * Products with a materialised kernel matrix: out = K·b for K stored row-major in a shared
 * WebAssembly memory (see `materialiseKernel`), by WASM SIMD code split by rows over the worker
 * pool. This is the dense cache of a KernelOperator: once K is stored, a product is a pass over
 * n·m stored entries — memory-bound, several times cheaper than re-evaluating the formula.
 *
 * Right-hand sides and sums are float64 for both storages: a float32 cache (each entry rounded
 * once from its float64 value) is one fixed matrix within 2⁻²⁴ of K entry by entry, so
 * Krylov methods run on it as on a float64 matrix — no float32 rounding of the vectors, no
 * residual floor from the products (a float32 rhs measured a CG stall at ≈ 5·10⁻⁶‖b‖ at
 * n = 16,384, α = 1, rtol 1e-6).
 *
 * The program text below is fixed: only the storage type changes it.
 */
import type { Node } from '../formula/ast.js';
import type { FormulaSlots } from '../formula/slots.js';
import { compileWat, materialiseKernel, MAX_WASM_PAGES, rowTasks, runRowRanges, type MaterialisedKernel } from './reduce.js';
import { laneGroup } from './wasm-emit.js';

/**
 * Rows per block of the product: the b values an iteration loads serve 4 rows. A pass takes one
 * right-hand side: passes of 2 and 4 columns (2 and 1 rows per block, to keep the accumulators in
 * registers) measured slower per column than one-column passes (n = 16,384, float32: 78 and
 * 132 ms against 2·32 and 4·32 ms).
 */
const BLOCK_ROWS = 4;

const align16 = (b: number) => Math.ceil(b / 16) * 16;

/** Bytes a product needs next to K (the right-hand side and output of one pass). */
function productReserve(n: number, mPad: number): number {
  return align16(mPad * 8) + align16(n * 8);
}

/** Row stride of a materialised K: the lane group of the float64 program that evaluates it. */
function paddedRow(m: number): number {
  const g = laneGroup('float64');
  return Math.ceil(m / g) * g;
}

/**
 * The WAT text of out[i] = Σ_j K[i][j]·b[j] for rows [iStart, iEnd); b is float64 (mPad
 * entries). float32 K entries are promoted to float64 before the multiply-add, so the only
 * rounding of a float32 cache is that of its entries.
 * Each iteration takes 4 entries of j for a block of BLOCK_ROWS rows: the b values it loads serve
 * every row of the block — b is re-read from cache once per block instead of once per row, which
 * took a float32 product at n = 16,384 from 64 ms (compute-bound) to 32 ms.
 */
export function denseProductWat(storage: 'float32' | 'float64'): string {
  const f32 = storage === 'float32';
  const kStepBytes = f32 ? 16 : 32; // 4 entries of a K row
  const halves = [0, 1]; // 4 entries = two f64x2 values
  const acc = (q: number, h: number) => `$a${q}_${h}`;
  const zero = '(v128.const i64x2 0 0)';
  const locals = [
    '(local $i i32) (local $jb i32) (local $jx i32) (local $x0 v128) (local $x1 v128) (local $k0 v128) (local $k1 v128)',
    ...Array.from({ length: BLOCK_ROWS }, (_, q) => `(local $row${q} i32) ${halves.map((h) => `(local ${acc(q, h)} v128)`).join(' ')}`),
  ];
  // the K entries j..j+3 of row q as two f64x2 values
  const loadK = (q: number) => f32
    ? halves.map((h) => `(local.set $k${h} (f64x2.promote_low_f32x4 (v128.load64_zero offset=${h * 8} (i32.add (local.get $row${q}) (local.get $jb)))))`)
    : halves.map((h) => `(local.set $k${h} (v128.load offset=${h * 16} (i32.add (local.get $row${q}) (local.get $jb))))`);
  /** The loop over blocks of `rows` rows (rows ≤ BLOCK_ROWS), while i + rows ≤ iEnd. */
  const rowLoop = (rows: number, label: string): string[] => {
    const qs = Array.from({ length: rows }, (_, q) => q);
    const total = (q: number) => `(f64x2.add (local.get ${acc(q, 0)}) (local.get ${acc(q, 1)}))`;
    const store = (q: number) =>
      `(f64.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $i) (i32.const ${q})) (i32.const 3))) (f64x2.extract_lane 0 (f64x2.add ${total(q)} (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${total(q)} ${total(q)}))))`;
    return [
      `(block $${label}Done (loop $${label}`,
      `(br_if $${label}Done (i32.gt_u (i32.add (local.get $i) (i32.const ${rows})) (local.get $iEnd)))`,
      ...qs.map((q) => `(local.set $row${q} (i32.add (local.get $K) (i32.mul (i32.add (local.get $i) (i32.const ${q})) (local.get $rowBytes))))`),
      ...qs.flatMap((q) => halves.map((h) => `(local.set ${acc(q, h)} ${zero})`)),
      '(local.set $jb (i32.const 0))',
      '(local.set $jx (local.get $rhs))',
      '(block $jDone (loop $jLoop',
      '(br_if $jDone (i32.ge_u (local.get $jb) (local.get $rowBytes)))',
      ...halves.map((h) => `(local.set $x${h} (v128.load offset=${h * 16} (local.get $jx)))`),
      ...qs.flatMap((q) => [
        ...loadK(q),
        ...halves.map((h) => `(local.set ${acc(q, h)} (f64x2.add (local.get ${acc(q, h)}) (f64x2.mul (local.get $k${h}) (local.get $x${h}))))`),
      ]),
      `(local.set $jb (i32.add (local.get $jb) (i32.const ${kStepBytes})))`,
      '(local.set $jx (i32.add (local.get $jx) (i32.const 32)))',
      '(br $jLoop)))',
      ...qs.map(store),
      `(local.set $i (i32.add (local.get $i) (i32.const ${rows})))`,
      `(br $${label})))`,
    ];
  };
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "reduce") (param $iStart i32) (param $iEnd i32) (param $K i32) (param $rowBytes i32) (param $rhs i32) (param $out i32)',
    ...locals,
    '(local.set $i (local.get $iStart))',
    ...rowLoop(BLOCK_ROWS, 'blocks'),
    ...rowLoop(1, 'tail'),
    '))',
  ].join('\n');
}

/**
 * A materialised n×m kernel matrix and its products. Products on one matrix run one at a time
 * (they share the right-hand-side and output area of its memory).
 */
export class DenseKernelMatrix {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly n: number, readonly m: number, private readonly stored: MaterialisedKernel) {}

  /**
   * Whether K (n×m in `storage`), a product's buffers and the formula's points fit one
   * WebAssembly memory (4 GiB); 64 KiB more cover the parameters and lane masks.
   */
  static fits(slots: FormulaSlots, n: number, m: number, storage: 'float32' | 'float64'): boolean {
    const mPad = paddedRow(m);
    const points = slots.i.reduce((s, v) => s + align16(n * v.dim * 8), 0) + slots.j.reduce((s, v) => s + align16(v.dim * mPad * 8), 0);
    const bytes = n * mPad * (storage === 'float64' ? 8 : 4) + productReserve(n, mPad) + points + 65536;
    return bytes <= MAX_WASM_PAGES * 65536;
  }

  /** K of the formula, evaluated once in float64 and stored as `storage` (see `materialiseKernel`). */
  static async materialise(formula: Node, slots: FormulaSlots, n: number, m: number, storage: 'float32' | 'float64'): Promise<DenseKernelMatrix> {
    const stored = await materialiseKernel(formula, slots, n, m, storage, productReserve(n, paddedRow(m)));
    if (stored.mPad !== paddedRow(m)) throw new Error(`internal: materialised row stride ${stored.mPad}, expected ${paddedRow(m)}`);
    return new DenseKernelMatrix(n, m, stored);
  }

  get storage(): 'float32' | 'float64' {
    return this.stored.storage;
  }

  /** K·c for each column c (length m), as float64 columns of length n (one pass over K per column). */
  multiply(columns: readonly Float64Array[]): Promise<Float64Array[]> {
    const run = this.queue.then(() => this.run(columns));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(columns: readonly Float64Array[]): Promise<Float64Array[]> {
    const { n, m } = this;
    const { memory, offset, mPad, storage, reserveOffset } = this.stored;
    const elem = storage === 'float64' ? 8 : 4;
    const buf = memory.buffer as unknown as ArrayBuffer;
    const rhsOffset = reserveOffset;
    const outOffset = reserveOffset + align16(mPad * 8);
    const tasks = rowTasks(n, m);
    const results: Float64Array[] = [];
    const module = await compileWat(`dense|${storage}`, () => denseProductWat(storage));
    const rhs = new Float64Array(buf, rhsOffset, mPad);
    rhs.fill(0, m); // padding: K is 0 there too, but 0·garbage could be NaN
    for (const column of columns) {
      rhs.set(column);
      await runRowRanges(module, memory, tasks, (t) => Math.floor((t * n) / tasks),
        (_t, iStart, iEnd) => [iStart, iEnd, offset, mPad * elem, rhsOffset, outOffset]);
      results.push(new Float64Array(buf, outOffset, n).slice());
    }
    return results;
  }
}
