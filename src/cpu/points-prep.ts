/**
 * The passes a kernel makes over its points before any product: the per-column bounding box (with the sum of the
 * entries, finite exactly when every entry is), the scaling x̃ = (x − c)/σ of the r/σ kernels (operators/kernels.ts),
 * and the transposition of the column points into a product's memory (reduce.ts). Each exists twice: as plain loops
 * (the oracle, and the path for small sets or hosts that compile only asynchronously) and as one small fixed program,
 * whose results are the same bits — the same IEEE operations in the same order.
 *
 * Why the program: a fresh process runs these loops once each, in V8's unoptimised tiers — ≈ 40 ns an entry and a
 * boxed double per operation. For the digits (1,797 × 64) the box and the scaling took 8–10 ms of a 12 ms
 * construction and left 1.8 MB of garbage, and the store's transposition 2–3 ms and 1.9 MB more; in WebAssembly the
 * three take ≈ 0.5 ms (2-vCPU VM; bench/RESULTS.md, eighteenth session).
 */
import { acquireMemory, recycleMemory } from './memory-pool.js';
import { memoryBase } from './platform.js';
import { fixedProgram } from './programs.js';

/** Entries from which a point set is prepared by the program (below, the loops cost less than a call's set-up). */
export const PREP_MIN_ENTRIES = 8192;

/** Point sets prepared and transpositions made by the program (tests read it). */
export const prepCounts = { passes: 0, transposes: 0 };

/**
 * Widens lo/hi (length d) to the bounding box of the rows of `data` and returns the sum of its entries (finite when
 * every entry is). Row by row through a small function: V8 optimises a function called per row sooner than one long
 * loop (no modulo per entry either).
 */
export function boundingBox(data: Float64Array, d: number, lo: Float64Array, hi: Float64Array): number {
  let sum = 0;
  for (let row = 0; row < data.length; row += d) sum += rowBox(data, row, d, lo, hi);
  return sum;
}

function rowBox(data: Float64Array, row: number, d: number, lo: Float64Array, hi: Float64Array): number {
  let sum = 0;
  for (let k = 0; k < d; k++) {
    const v = data[row + k]!;
    sum += v;
    if (v < lo[k]!) lo[k] = v;
    if (v > hi[k]!) hi[k] = v;
  }
  return sum;
}

/** out = (data − center)/σ row by row (see `boundingBox`). */
export function scaleRows(data: Float64Array, d: number, center: Float64Array, sigma: number, out: Float64Array): void {
  for (let row = 0; row < data.length; row += d) scaleRow(data, row, d, center, sigma, out);
}

function scaleRow(data: Float64Array, row: number, d: number, center: Float64Array, sigma: number, out: Float64Array): void {
  for (let k = 0; k < d; k++) out[row + k] = (data[row + k]! - center[k]!) / sigma;
}

/**
 * The m points of `src` (m × dim, row-major) written dimension-major into `dst`: dst[k·mPad + j] = src[j·dim + k], each
 * dimension padded to mPad with the last point's coordinate (padded kernel entries stay finite). One dimension at a
 * time with running indices, no multiply per entry.
 */
export function transposePoints(src: Float64Array, dim: number, m: number, mPad: number, dst: Float64Array | Float32Array): void {
  for (let k = 0; k < dim; k++) {
    transposeDimension(src, dim, k, m, dst, k * mPad);
    dst.fill(src[(m - 1) * dim + k]!, k * mPad + m, (k + 1) * mPad);
  }
}

function transposeDimension(src: Float64Array, dim: number, k: number, m: number, dst: Float64Array | Float32Array, at: number): void {
  for (let j = 0, t = k; j < m; j++, t += dim) dst[at + j] = src[t]!;
}

/**
 * The program: `box(src, entries, d, lo, hi) → Σ`, `scale(src, entries, d, center, σ)` in place, and
 * `transpose64`/`transpose32(src, dim, m, mPad, dst)` (float64 or float32 entries, copied as they are). Byte
 * addresses; every loop is the loop above, scalar, in the same order.
 */
function pointsPrepWat(): string {
  const transpose = (name: string, type: 'f64' | 'f32', shift: number) => [
    `(func (export "${name}") (param $src i32) (param $dim i32) (param $m i32) (param $mPad i32) (param $dst i32)`,
    `(local $k i32) (local $s i32) (local $o i32) (local $end i32) (local $last ${type}) (local $rowBytes i32)`,
    `(local.set $rowBytes (i32.shl (local.get $dim) (i32.const ${shift})))`,
    '(block $kDone (loop $kLoop',
    '(br_if $kDone (i32.ge_u (local.get $k) (local.get $dim)))',
    `(local.set $s (i32.add (local.get $src) (i32.shl (local.get $k) (i32.const ${shift}))))`,
    `(local.set $o (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $k) (local.get $mPad)) (i32.const ${shift}))))`,
    `(local.set $end (i32.add (local.get $o) (i32.shl (local.get $m) (i32.const ${shift}))))`,
    '(block $jDone (loop $jLoop',
    '(br_if $jDone (i32.ge_u (local.get $o) (local.get $end)))',
    `(local.set $last (${type}.load (local.get $s)))`,
    `(${type}.store (local.get $o) (local.get $last))`,
    '(local.set $s (i32.add (local.get $s) (local.get $rowBytes)))',
    `(local.set $o (i32.add (local.get $o) (i32.const ${1 << shift})))`,
    '(br $jLoop)))',
    // the padding repeats the last point's coordinate
    `(local.set $end (i32.add (local.get $dst) (i32.shl (i32.mul (i32.add (local.get $k) (i32.const 1)) (local.get $mPad)) (i32.const ${shift}))))`,
    '(block $pDone (loop $pLoop',
    '(br_if $pDone (i32.ge_u (local.get $o) (local.get $end)))',
    `(${type}.store (local.get $o) (local.get $last))`,
    `(local.set $o (i32.add (local.get $o) (i32.const ${1 << shift})))`,
    '(br $pLoop)))',
    '(local.set $k (i32.add (local.get $k) (i32.const 1)))',
    '(br $kLoop)))',
    ')',
  ];
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "box") (param $src i32) (param $entries i32) (param $d i32) (param $lo i32) (param $hi i32) (result f64)',
    '(local $sum f64) (local $row f64) (local $v f64) (local $p i32) (local $end i32) (local $q i32) (local $k i32)',
    '(local.set $p (local.get $src))',
    '(local.set $end (i32.add (local.get $src) (i32.shl (local.get $entries) (i32.const 3))))',
    '(block $done (loop $rows',
    '(br_if $done (i32.ge_u (local.get $p) (local.get $end)))',
    '(local.set $row (f64.const 0))',
    '(local.set $k (i32.const 0))',
    '(block $kDone (loop $ks',
    '(br_if $kDone (i32.ge_u (local.get $k) (local.get $d)))',
    '(local.set $v (f64.load (local.get $p)))',
    '(local.set $row (f64.add (local.get $row) (local.get $v)))',
    '(local.set $q (i32.add (local.get $lo) (i32.shl (local.get $k) (i32.const 3))))',
    '(if (f64.lt (local.get $v) (f64.load (local.get $q))) (then (f64.store (local.get $q) (local.get $v))))',
    '(local.set $q (i32.add (local.get $hi) (i32.shl (local.get $k) (i32.const 3))))',
    '(if (f64.gt (local.get $v) (f64.load (local.get $q))) (then (f64.store (local.get $q) (local.get $v))))',
    '(local.set $p (i32.add (local.get $p) (i32.const 8)))',
    '(local.set $k (i32.add (local.get $k) (i32.const 1)))',
    '(br $ks)))',
    // the rows' sums added in order, as boundingBox adds rowBox's
    '(local.set $sum (f64.add (local.get $sum) (local.get $row)))',
    '(br $rows)))',
    '(local.get $sum))',
    '(func (export "scale") (param $src i32) (param $entries i32) (param $d i32) (param $c i32) (param $sigma f64)',
    '(local $p i32) (local $end i32) (local $k i32)',
    '(local.set $p (local.get $src))',
    '(local.set $end (i32.add (local.get $src) (i32.shl (local.get $entries) (i32.const 3))))',
    '(block $done (loop $rows',
    '(br_if $done (i32.ge_u (local.get $p) (local.get $end)))',
    '(local.set $k (i32.const 0))',
    '(block $kDone (loop $ks',
    '(br_if $kDone (i32.ge_u (local.get $k) (local.get $d)))',
    '(f64.store (local.get $p) (f64.div (f64.sub (f64.load (local.get $p)) (f64.load (i32.add (local.get $c) (i32.shl (local.get $k) (i32.const 3))))) (local.get $sigma)))',
    '(local.set $p (i32.add (local.get $p) (i32.const 8)))',
    '(local.set $k (i32.add (local.get $k) (i32.const 1)))',
    '(br $ks)))',
    '(br $rows)))',
    ')',
    ...transpose('transpose64', 'f64', 3),
    ...transpose('transpose32', 'f32', 2),
    ')',
  ].join('\n');
}

const pointsPrep = fixedProgram('points-prep|box-scale-transpose', pointsPrepWat);

interface PrepExports {
  box(src: number, entries: number, d: number, lo: number, hi: number): number;
  scale(src: number, entries: number, d: number, center: number, sigma: number): void;
  transpose64(src: number, dim: number, m: number, mPad: number, dst: number): void;
  transpose32(src: number, dim: number, m: number, mPad: number, dst: number): void;
}

/**
 * The program instantiated on `memory`, or undefined where the host compiles only asynchronously (a browser's main
 * thread) or the compile failed — the loops give the same bits, and a constructor (a GPU operator's too) must not fail
 * for a CPU program: a product that needs WebAssembly reports the cause itself (LAZYLINALG_WASM_TIERING, say).
 */
const prepOn = (memory: WebAssembly.Memory): PrepExports | undefined => pointsPrep.instanceOn(memory) as PrepExports | undefined;

/**
 * A point set (row-major, d columns) ready for `box` then `scaled`: in a memory with the program where it is large
 * enough (and the host compiles synchronously), else read in place by the loops. `release` returns the memory.
 */
export interface PointsPass {
  /** `boundingBox(data, d, lo, hi)`. */
  box(lo: Float64Array, hi: Float64Array): number;
  /** A fresh array (data − center)/σ, as `scaleRows`; at most once, after `box`. */
  scaled(center: Float64Array, sigma: number): Float64Array;
  release(): void;
}

export function pointsPass(data: Float64Array, d: number): PointsPass {
  const loops: PointsPass = {
    box: (lo, hi) => boundingBox(data, d, lo, hi),
    scaled: (center, sigma) => {
      const out = new Float64Array(data.length);
      scaleRows(data, d, center, sigma, out);
      return out;
    },
    release: () => undefined,
  };
  if (data.length < PREP_MIN_ENTRIES) return loops;
  // the entries, then lo, hi (or the centre) — 16-byte aligned, address 0 unused; from the memory's first huge-page
  // boundary where it has one (no 4 KiB-paged head to fault in)
  const layout = (base: number) => {
    const src = Math.max(16, base);
    const lo = src + Math.ceil(data.length / 2) * 16;
    const hi = lo + Math.ceil(d / 2) * 16;
    return { src, lo, hi, bytes: hi + Math.ceil(d / 2) * 16 };
  };
  const { bytes } = layout(0);
  if (bytes > 2 ** 31) return loops;
  const memory = acquireMemory(Math.ceil(bytes / 65536));
  const prep = prepOn(memory);
  if (!prep) {
    recycleMemory(memory);
    return loops;
  }
  const { src, lo, hi } = layout(memoryBase(memory));
  const f64 = new Float64Array(memory.buffer as unknown as ArrayBuffer);
  f64.set(data, src / 8);
  prepCounts.passes++;
  let released = false;
  return {
    box: (l, h) => {
      f64.set(l, lo / 8);
      f64.set(h, hi / 8);
      const sum = prep.box(src, data.length, d, lo, hi);
      l.set(f64.subarray(lo / 8, lo / 8 + d));
      h.set(f64.subarray(hi / 8, hi / 8 + d));
      return sum;
    },
    scaled: (center, sigma) => {
      f64.set(center, lo / 8);
      prep.scale(src, data.length, d, lo, sigma);
      // copied out, and the memory recycled: points left in it (a view) kept one WebAssembly memory alive per
      // operator until a collection, which V8 runs late for them — 900 operators made and dropped at n = 1,500,
      // d = 16 took RSS to 362 MB where the copies stay at 140 MB (the copy's fresh pages cost ≈ 2.5 ms at the digits)
      return f64.slice(src / 8, src / 8 + data.length);
    },
    release: () => {
      if (!released) recycleMemory(memory);
      released = true;
    },
  };
}

/**
 * `transposePoints` of the m × dim points at byte `srcOffset` of `memory` (entries of `bytes` bytes) into the
 * dimension-major block at byte `dstOffset`, by the program; false where it is not available (the caller runs the
 * loops on its own copy).
 */
export function transposeInMemory(memory: WebAssembly.Memory, bytes: 4 | 8, srcOffset: number, dim: number, m: number, mPad: number, dstOffset: number): boolean {
  if (m * dim < PREP_MIN_ENTRIES) return false;
  const prep = prepOn(memory);
  if (!prep) return false;
  (bytes === 8 ? prep.transpose64 : prep.transpose32)(srcOffset, dim, m, mPad, dstOffset);
  prepCounts.transposes++;
  return true;
}
