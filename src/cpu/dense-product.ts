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
import { prefaultMemory, recycleMemory } from './memory-pool.js';
import { fixedProgram, type FixedProgram } from './programs.js';
import { adderOn } from './vector-sums.js';
import { vectorLoop } from './wat-loops.js';
import { materialiseKernel, MAX_WASM_PAGES, mirrorTasks, rowTasks, runRowRanges, triangleBoundary, type MaterialisedKernel } from './reduce.js';
import { laneGroup, packedElements, packedRowOffset, packedRowOffsetWat } from './wasm-emit.js';

/**
 * Rows per block of the (unpacked) product: the b values an iteration loads serve 4 rows. A pass takes one
 * right-hand side: passes of 2 and 4 columns (2 and 1 rows per block, to keep the accumulators in
 * registers) measured slower per column than one-column passes (n = 16,384, float32: 78 and
 * 132 ms against 2·32 and 4·32 ms). Packed symmetric products, whose every entry also feeds the mirror
 * sums, do take several columns per pass (PACKED_BLOCK_COLUMNS).
 */
const BLOCK_ROWS = 4;

const align16 = (b: number) => Math.ceil(b / 16) * 16;

/** Bytes a product needs next to K (the right-hand side and output of one pass, either way round). */
function productReserve(n: number, mPad: number): number {
  return align16(mPad * 8) + align16(n * 8);
}

/** Options of a materialised K: room for its Gram, or packed symmetric storage (n = m). */
export interface DenseKernelOptions {
  /** Reserve room for the n×n float64 Gram matrix K·Kᵀ (see `gram`). */
  gram?: boolean;
  /** K is symmetric: store it packed (each pair once, see `packedRowOffset`) — half the memory. */
  symmetric?: boolean;
}

/**
 * Columns per group of a packed symmetric float64 product (see `denseSymmetricProductWat`): blocks of
 * PACKED_BLOCK_ROWS rows keep one accumulator per row and column, so each stored entry loaded serves the group's
 * columns. The product is compute-bound (2-lane multiply and add; one column is bound by reading K). Measured on one
 * thread (`bench/packed-kernels.mjs`, 2-vCPU AMD EPYC VM, shared), per column: n = 1,257 (6 MB packed), 12 columns:
 * 0.142 ms by groups of 4 (22 GFlop/s), 0.157 by 2, one-column products 0.194; n = 6,000 (144 MB), 8 columns: 3.9 ms
 * by 4 (18.5 GFlop/s), 4.5 by 2, one-column 8.2. A group of 6 spills (13.5 GFlop/s at n = 1,257). Ten columns thus
 * cost ≈ 7 one-column products in cache, ≈ 5 out of it: each column needs its own multiply-adds.
 */
export const PACKED_BLOCK_COLUMNS = 4;
/** Rows per block of a packed product of several columns (see PACKED_BLOCK_COLUMNS). */
export const PACKED_BLOCK_ROWS = 2;
/**
 * Right-hand sides of one packed product: its column groups take turns on each block of rows, so K is read from
 * memory once for all of them (more columns are taken in several products).
 */
export const PACKED_PASS_COLUMNS = 12;
/** Half-steps (2 stored entries) an iteration of a packed product's mirror-sum loop takes. */
const MIRROR_UNROLL = 4;
/** Stored columns of a row block that every column group of a packed product passes over in turn (see `denseSymmetricProductWat`). */
const PACKED_CHUNK = 256;

/**
 * The reserve of a packed product after K: PACKED_PASS_COLUMNS columns of b and of out, the per-task float64
 * mirror sums of as many columns, for float32-sums products per-task float32 mirrors and b in float32, then the
 * per-task accumulators of a row block.
 */
function packedLayout(reserveOffset: number, mPad: number, slots: number) {
  const mirrorBytes = align16(mPad * 8);
  const mirror32Bytes = align16(mPad * 4);
  const scratchBytes = 4 * PACKED_PASS_COLUMNS * 16; // a block's accumulators: 4 rows at most, v128 each
  const rhsOffset = reserveOffset;
  const outOffset = rhsOffset + PACKED_PASS_COLUMNS * mirrorBytes;
  const mirrorOffset = outOffset + PACKED_PASS_COLUMNS * mirrorBytes;
  const mirror32Offset = mirrorOffset + slots * PACKED_PASS_COLUMNS * mirrorBytes;
  const rhs32Offset = mirror32Offset + slots * mirror32Bytes;
  const scratchOffset = rhs32Offset + mirror32Bytes;
  return {
    rhsOffset, outOffset, mirrorOffset, mirrorBytes, mirror32Offset, mirror32Bytes, rhs32Offset, scratchOffset, scratchBytes,
    end: scratchOffset + slots * scratchBytes,
  };
}

/** The reserve after K: a product's buffers, then the Gram matrix; packed: see `packedLayout`. */
function reserveFor(n: number, mPad: number, options: DenseKernelOptions, mirrorSlots = mirrorTasks(n)): number {
  if (options.symmetric) return packedLayout(0, mPad, mirrorSlots).end;
  return productReserve(n, mPad) + (options.gram ? align16(n * n * 8) : 0);
}

/** Bytes of a stored n×m K in `storage` (packed when symmetric). */
function storedBytes(n: number, mPad: number, storage: 'float32' | 'float64', symmetric: boolean): number {
  return (symmetric ? packedElements(n, mPad) : n * mPad) * (storage === 'float64' ? 8 : 4);
}

/** Bytes of the memory K is stored in, at most (K, a product's reserve, the points; 64 KiB cover parameters and masks). */
function memoryBytes(slots: FormulaSlots, n: number, m: number, storage: 'float32' | 'float64', options: DenseKernelOptions): number {
  const mPad = paddedRow(m);
  const points = slots.i.reduce((s, v) => s + align16(n * v.dim * 8), 0) + slots.j.reduce((s, v) => s + align16(v.dim * mPad * 8), 0);
  return storedBytes(n, mPad, storage, options.symmetric === true) + reserveFor(n, mPad, options) + points + 65536;
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

/** Columns of K per chunk of the transposed product: a chunk of a row (4 KiB in float64) stays in L1 while it is reused. */
const CHUNK_COLUMNS = 512;

/**
 * Columns per chunk of the Gram, the outermost loop: rows × chunk entries of K (512 KiB for 512 float64
 * rows) stay in the core's L2 while every row block passes over them. Measured at m = 512, n = 16,384
 * (2 cores): 153–166 ms for float64 or float32 K (chunks of 64–256 alike), where the row blocks outermost
 * took 333–357 ms (float64) and 174–184 ms (float32), streaming K from memory once per 4-row block.
 */
export const GRAM_CHUNK_COLUMNS = 128;
/**
 * Column pairs a trip in the Gram's tiles (wat-loops.ts): a landmark preconditioner's Gram (n = 20,000, m = 800, one
 * thread) took 603 ms with 4 (2: 684; 5: 595), against 646 with V8's own unrolling.
 */
const GRAM_COPIES = 4;

/** Loads 2 entries of K at `addr` as one f64x2 (float32 entries promoted). */
function loadPair(storage: 'float32' | 'float64', addr: string): string {
  return storage === 'float32'
    ? `(f64x2.promote_low_f32x4 (v128.load64_zero ${addr}))`
    : `(v128.load ${addr})`;
}

/**
 * The WAT text of out[c] = Σ_r K[r][c]·z[r] (out = Kᵀz) for columns [cStart, cEnd) (even; the
 * padding columns of K are 0, so a range may run into them): columns in chunks of CHUNK_COLUMNS
 * whose float64 outputs stay in L1 while blocks of 4 rows stream over them — each output pair
 * is loaded and stored once per 4 rows, and every K entry is read once, in row order.
 */
export function denseTransposedProductWat(storage: 'float32' | 'float64'): string {
  const elem = storage === 'float32' ? 4 : 8;
  const rowBlock = (rows: number, label: string): string[] => {
    const qs = Array.from({ length: rows }, (_, q) => q);
    let sum = '(v128.load (i32.add (local.get $out) (local.get $ob)))';
    for (const q of qs) sum = `(f64x2.add ${sum} (f64x2.mul ${loadPair(storage, `(i32.add (local.get $p${q}) (local.get $kb))`)} (local.get $z${q})))`;
    return [
      `(block $${label}Done (loop $${label}`,
      `(br_if $${label}Done (i32.gt_u (i32.add (local.get $r) (i32.const ${rows})) (local.get $rows)))`,
      ...qs.flatMap((q) => [
        `(local.set $p${q} (i32.add (local.get $K) (i32.mul (i32.add (local.get $r) (i32.const ${q})) (local.get $rowBytes))))`,
        `(local.set $z${q} (f64x2.splat (f64.load (i32.add (local.get $rhs) (i32.shl (i32.add (local.get $r) (i32.const ${q})) (i32.const 3))))))`,
      ]),
      `(local.set $kb (i32.mul (local.get $c0) (i32.const ${elem})))`,
      '(local.set $ob (i32.shl (local.get $c0) (i32.const 3)))',
      '(block $cDone (loop $cLoop',
      '(br_if $cDone (i32.ge_u (local.get $ob) (local.get $obEnd)))',
      `(v128.store (i32.add (local.get $out) (local.get $ob)) ${sum})`,
      `(local.set $kb (i32.add (local.get $kb) (i32.const ${2 * elem})))`,
      '(local.set $ob (i32.add (local.get $ob) (i32.const 16)))',
      '(br $cLoop)))',
      `(local.set $r (i32.add (local.get $r) (i32.const ${rows})))`,
      `(br $${label})))`,
    ];
  };
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "reduce") (param $cStart i32) (param $cEnd i32) (param $K i32) (param $rowBytes i32) (param $rows i32) (param $rhs i32) (param $out i32)',
    '(local $c0 i32) (local $c1 i32) (local $r i32) (local $kb i32) (local $ob i32) (local $obEnd i32)',
    '(local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $z0 v128) (local $z1 v128) (local $z2 v128) (local $z3 v128)',
    '(local.set $c0 (local.get $cStart))',
    '(block $chunksDone (loop $chunks',
    '(br_if $chunksDone (i32.ge_u (local.get $c0) (local.get $cEnd)))',
    `(local.set $c1 (select (local.get $cEnd) (i32.add (local.get $c0) (i32.const ${CHUNK_COLUMNS})) (i32.lt_u (local.get $cEnd) (i32.add (local.get $c0) (i32.const ${CHUNK_COLUMNS})))))`,
    '(local.set $obEnd (i32.shl (local.get $c1) (i32.const 3)))',
    // zero the chunk's outputs
    '(local.set $ob (i32.shl (local.get $c0) (i32.const 3)))',
    '(block $zDone (loop $zLoop',
    '(br_if $zDone (i32.ge_u (local.get $ob) (local.get $obEnd)))',
    '(v128.store (i32.add (local.get $out) (local.get $ob)) (v128.const i64x2 0 0))',
    '(local.set $ob (i32.add (local.get $ob) (i32.const 16)))',
    '(br $zLoop)))',
    '(local.set $r (i32.const 0))',
    ...rowBlock(4, 'blocks'),
    ...rowBlock(1, 'tail'),
    '(local.set $c0 (local.get $c1))',
    '(br $chunks)))',
    '))',
  ].join('\n');
}

/**
 * Byte offset of entry j of column c in the interleaved block of `cols` vectors a packed product reads (b) and
 * writes (mirror sums): per step of 4 entries, half h (entries 2h, 2h + 1) of column c is the v128 at
 * (h·cols + c)·16, so one pointer and fixed offsets reach every column's vectors of a step.
 */
export function interleavedOffset(j: number, c: number, cols: number): number {
  return (j >> 2) * 32 * cols + (((j >> 1) & 1) * cols + c) * 16 + (j & 1) * 8;
}

/**
 * The WAT text of out = K·B for a symmetric K in packed storage (see `packedRowOffset`; group g of
 * rows keeps columns j ≥ g·G, G = the float64 lane group) and `groups`·`cols` right-hand sides, for the rows
 * [iStart, iEnd): blocks of `rows` rows run over their diagonal G×G block with the plain product
 * (stored whole), then over the columns after it with both halves of each entry — out_i += K_ij·b_j
 * for the rows and mirror_j += K_ij·b_i for the columns (the lower triangle, never stored) — so every
 * stored entry is loaded once per column group and used 2·cols times. Column groups (`groups`, a parameter)
 * take turns on each block of rows while its stored rows are in the core's cache: K is read from memory
 * once per product, whatever the number of columns. Group g's b and `mirror` (this task's float64 column
 * sums, zeroed here; the caller adds the tasks' mirrors to out) are interleaved (`interleavedOffset`) at
 * g·cols·mPad doubles after the first; column c of out lies c·mPad doubles after the first. Row blocks never
 * straddle a group of rows: G is a multiple of `rows`.
 *
 * Registers decide the speed (V8 allocates 15 of x64's 16 vector registers): a block keeps rows·cols
 * accumulators and as many splats of b_i. V8 places a loop's pure arithmetic as late as it can, so the row
 * sums (their accumulators feed only the next iteration) sink after everything anchored by a store. Several
 * columns therefore take two loops over each chunk: the mirror sums (anchored by their stores, so unrolled),
 * then the row sums one half-step (2 entries) an iteration, reloading the chunk's entries of K from L1, so that
 * only rows + cols loaded values are live beside the accumulators. One column takes both in one loop of 4
 * entries (measured as fast; two loops cost it ≈ 8% at n = 3,000). Every sum adds its terms in the same order
 * whatever rows, cols, groups and `chunk`, so a column's result does not depend on how many share its product.
 */
export function denseSymmetricProductWat(
  storage: 'float32' | 'float64', cols = 1, rows = cols === 1 ? 4 : PACKED_BLOCK_ROWS, chunk = PACKED_CHUNK,
): string {
  const G = laneGroup('float64');
  if (chunk % G !== 0 || G % rows !== 0 || ![1, 2, 4].includes(rows)) throw new Error(`internal: packed product of ${rows} rows in chunks of ${chunk}`);
  const p: PackedShape = { f32: storage === 'float32', cols, G, chunk };
  const cs = columnIndices(p);
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "reduce") (param $iStart i32) (param $iEnd i32) (param $K i32) (param $mPad i32) (param $rhs i32) (param $out i32) (param $mirror i32) (param $groups i32) (param $scratch i32)',
    '(local $i i32) (local $blk i32) (local $c0 i32) (local $bOff i32) (local $xp i32) (local $yp i32) (local $xpEnd i32) (local $k v128)',
    '(local $colBytes i32) (local $groupBytes i32) (local $rhsEnd i32) (local $gRhs i32) (local $gMirror i32) (local $gOut i32) (local $gAcc i32) (local $jc i32) (local $jcEnd i32) (local $j0 i32)',
    cs.map((c) => `(local $x${c} v128) (local $y${c} v128)`).join(' '),
    Array.from({ length: rows }, (_, q) => `(local $r${q} i32) (local $kp${q} i32) ${cs.map((c) => `(local $s${q}_${c} v128) (local ${packedAcc(q, c)} v128)`).join(' ')}`).join(' '),
    '(local.set $colBytes (i32.shl (local.get $mPad) (i32.const 3)))',
    `(local.set $groupBytes (i32.mul (local.get $colBytes) (i32.const ${cols})))`,
    '(local.set $rhsEnd (i32.add (local.get $rhs) (i32.mul (local.get $groupBytes) (local.get $groups))))',
    // zero this task's mirror sums
    '(local.set $yp (local.get $mirror))',
    '(local.set $xpEnd (i32.add (local.get $mirror) (i32.sub (local.get $rhsEnd) (local.get $rhs))))',
    '(block $zDone (loop $z',
    '(br_if $zDone (i32.ge_u (local.get $yp) (local.get $xpEnd)))',
    `(v128.store (local.get $yp) ${ZERO_V128})`,
    '(local.set $yp (i32.add (local.get $yp) (i32.const 16)))',
    '(br $z)))',
    '(local.set $i (local.get $iStart))',
    ...packedRowLoop(p, rows, 'blocks'),
    ...(rows > 1 ? packedRowLoop(p, 1, 'tail') : []),
    '))',
  ].join('\n');
}

/** What a packed product's program is generated for (see `denseSymmetricProductWat`). */
interface PackedShape {
  /** K stored in float32 (promoted to float64 as it is loaded). */
  f32: boolean;
  /** Columns a group. */
  cols: number;
  /** The float64 lane group: rows of a group keep columns from the group's first on. */
  G: number;
  /** Stored columns every column group passes over in turn. */
  chunk: number;
}

/** A group's column indices 0 … cols − 1. */
const columnIndices = (p: PackedShape) => Array.from({ length: p.cols }, (_, c) => c);
/** log₂ of a stored entry's bytes. */
const storedShift = (p: PackedShape) => (p.f32 ? 2 : 3);

const ZERO_V128 = '(v128.const i64x2 0 0)';
/** The accumulator of row q and column c of a block. */
const packedAcc = (q: number, c: number) => `$a${q}_${c}`;

/** `body` for each column group, with $gRhs, $gMirror, $gOut and $gAcc (its accumulators in the scratch) at the group's. */
function packedGroupLoop(p: PackedShape, name: string, body: string[]): string[] {
  return [
    '(local.set $gRhs (local.get $rhs)) (local.set $gMirror (local.get $mirror)) (local.set $gOut (local.get $out)) (local.set $gAcc (local.get $scratch))',
    `(block $${name}Done (loop $${name}`,
    `(br_if $${name}Done (i32.ge_u (local.get $gRhs) (local.get $rhsEnd)))`,
    ...body,
    '(local.set $gRhs (i32.add (local.get $gRhs) (local.get $groupBytes)))',
    '(local.set $gMirror (i32.add (local.get $gMirror) (local.get $groupBytes)))',
    '(local.set $gOut (i32.add (local.get $gOut) (local.get $groupBytes)))',
    `(local.set $gAcc (i32.add (local.get $gAcc) (i32.const ${4 * p.cols * 16})))`,
    `(br $${name})))`,
  ];
}

/** The half-steps (2 entries of K a row) of a block of `r` rows: their loop, mirror sums, row sums and starts. */
function packedHalfSteps(p: PackedShape, r: number) {
  const { f32, cols } = p;
  const cs = columnIndices(p);
  const qs = Array.from({ length: r }, (_, q) => q);
  const halfBytes = f32 ? 8 : 16; // 2 entries of a K row
  const storeShift = storedShift(p);
  const kAt = (q: number, u: number) => f32
    ? `(f64x2.promote_low_f32x4 (v128.load64_zero offset=${u * halfBytes} (local.get $kp${q})))`
    : `(v128.load offset=${u * halfBytes} (local.get $kp${q}))`;
  return {
    /** A loop over half-steps from $xp to $xpEnd, `unrolled` an iteration (`body`), K at $kp…. */
    loop: (name: string, unrolled: number, body: string[], pointers: string[]) => [
      `(block $${name}Done (loop $${name}`,
      `(br_if $${name}Done (i32.ge_u (local.get $xp) (local.get $xpEnd)))`,
      ...body,
      ...qs.map((q) => `(local.set $kp${q} (i32.add (local.get $kp${q}) (i32.const ${unrolled * halfBytes})))`),
      ...pointers.map((ptr) => `(local.set ${ptr} (i32.add (local.get ${ptr}) (i32.const ${unrolled * 16 * cols})))`),
      `(br $${name})))`,
    ],
    /** Half-step u of an iteration: mirror sums of the columns (anchored by their stores). */
    mirror: (u: number) => [
      ...cs.map((c) => `(local.set $y${c} (v128.load offset=${u * 16 * cols + c * 16} (local.get $yp)))`),
      ...qs.flatMap((q) => [
        `(local.set $k ${kAt(q, u)})`,
        ...cs.map((c) => `(local.set $y${c} (f64x2.add (local.get $y${c}) (f64x2.mul (local.get $k) (local.get $s${q}_${c}))))`),
      ]),
      ...cs.map((c) => `(v128.store offset=${u * 16 * cols + c * 16} (local.get $yp) (local.get $y${c}))`),
    ],
    /** Half-step u of an iteration: row sums (their arithmetic sinks to the iteration's end, after all its loads). */
    rows: (u: number) => [
      ...cs.map((c) => `(local.set $x${c} (v128.load offset=${u * 16 * cols + c * 16} (local.get $xp)))`),
      ...qs.flatMap((q) => [
        `(local.set $k ${kAt(q, u)})`,
        ...cs.map((c) => `(local.set ${packedAcc(q, c)} (f64x2.add (local.get ${packedAcc(q, c)}) (f64x2.mul (local.get $k) (local.get $x${c}))))`),
      ]),
    ],
    /** Sets $kp… and $xp at stored column `j` (an expression), $xpEnd at `jEnd`; with `mirror`, $yp too. */
    startAt: (j: string, jEnd: string, mirror: boolean) => [
      ...qs.map((q) => `(local.set $kp${q} (i32.add (local.get $r${q}) (i32.shl (i32.sub ${j} (local.get $c0)) (i32.const ${storeShift}))))`),
      `(local.set $xp (i32.add (local.get $gRhs) (i32.mul ${j} (i32.const ${8 * cols}))))`,
      `(local.set $xpEnd (i32.add (local.get $gRhs) (i32.mul ${jEnd} (i32.const ${8 * cols}))))`,
      ...(mirror ? ['(local.set $yp (i32.add (local.get $gMirror) (i32.sub (local.get $xp) (local.get $gRhs))))'] : []),
    ],
  };
}

/** The loop over blocks of `r` rows from $i to $iEnd (see `denseSymmetricProductWat`). */
function packedRowLoop(p: PackedShape, r: number, label: string): string[] {
  const { cols, G, chunk } = p;
  const cs = columnIndices(p);
  const lg = Math.log2(G);
  const storeShift = storedShift(p);
  const step = 32 * cols; // bytes of 4 entries of the interleaved columns
  const qs = Array.from({ length: r }, (_, q) => q);
  const half = packedHalfSteps(p, r);
  const unrolled = Array.from({ length: MIRROR_UNROLL }, (_, u) => u);
  // several columns: the mirror sums, unrolled, then the row sums one half-step an iteration (rows + cols loaded
  // values and rows·cols accumulators live); one column: both in one loop, 2 half-steps an iteration
  const offLoops = (name: string) => cols === 1
    ? [...half.startAt('(local.get $j0)', '(local.get $jcEnd)', true), ...half.loop(name, 2, [...half.mirror(0), ...half.mirror(1), ...half.rows(0), ...half.rows(1)], ['$xp', '$yp'])]
    : [
      ...half.startAt('(local.get $j0)', '(local.get $jcEnd)', true),
      ...half.loop(`${name}Mirror`, MIRROR_UNROLL, unrolled.flatMap(half.mirror), ['$xp', '$yp']),
      ...half.startAt('(local.get $j0)', '(local.get $jcEnd)', false),
      ...half.loop(`${name}Rows`, 1, half.rows(0), ['$xp']),
    ];
  const hsum = (v: string) => `(f64x2.extract_lane 0 (f64x2.add ${v} (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${v} ${v})))`;
  const at = (q: number) => `(i32.shl (i32.add (local.get $i) (i32.const ${q})) (i32.const 3))`;
  const store = (q: number, c: number) =>
    `(f64.store (i32.add ${c === 0 ? '(local.get $gOut)' : `(i32.add (local.get $gOut) (i32.mul (local.get $colBytes) (i32.const ${c})))`} ${at(q)}) ${hsum(`(v128.load offset=${(q * cols + c) * 16} (local.get $gAcc))`)})`;
  return [
    `(block $${label}Done (loop $${label}`,
    `(br_if $${label}Done (i32.gt_u (i32.add (local.get $i) (i32.const ${r})) (local.get $iEnd)))`,
    // the group's first stored column c0, then each row's start (the layout of packedRowOffset)
    `(local.set $blk (i32.shr_u (local.get $i) (i32.const ${lg})))`,
    `(local.set $c0 (i32.shl (local.get $blk) (i32.const ${lg})))`,
    ...qs.map((q) => `(local.set $r${q} (i32.add (local.get $K) (i32.shl ${packedRowOffsetWat('(local.get $blk)', `(i32.sub (i32.add (local.get $i) (i32.const ${q})) (local.get $c0))`, '(local.get $mPad)')} (i32.const ${storeShift}))))`),
    // b_i of row i + q within a group (i is a multiple of r ≤ 4: rows q share a step, halves q >> 1, lanes q & 1)
    `(local.set $bOff (i32.add (i32.mul (i32.shr_u (local.get $i) (i32.const 2)) (i32.const ${step})) (i32.add (i32.mul (i32.and (i32.shr_u (local.get $i) (i32.const 1)) (i32.const 1)) (i32.const ${cols * 16})) (i32.shl (i32.and (local.get $i) (i32.const 1)) (i32.const 3)))))`,
    // accumulators of every group start at 0 in this task's scratch
    ...packedGroupLoop(p, `${label}Zero`, qs.flatMap((q) => cs.map((c) => `(v128.store offset=${(q * cols + c) * 16} (local.get $gAcc) ${ZERO_V128})`))),
    // chunks of the row block's stored columns (the first starts with the diagonal block): every group passes over
    // a chunk while its entries of K and the groups' b and mirror sums are in cache
    '(local.set $jc (local.get $c0))',
    `(block $${label}ChunksDone (loop $${label}Chunks`,
    `(br_if $${label}ChunksDone (i32.ge_u (local.get $jc) (local.get $mPad)))`,
    `(local.set $jcEnd (select (local.get $mPad) (i32.add (local.get $jc) (i32.const ${chunk})) (i32.lt_u (local.get $mPad) (i32.add (local.get $jc) (i32.const ${chunk})))))`,
    ...packedGroupLoop(p, `${label}Groups`, [
      ...qs.flatMap((q) => cs.flatMap((c) => [
        `(local.set $s${q}_${c} (v128.load64_splat offset=${(q >> 1) * cols * 16 + (q & 1) * 8 + c * 16} (i32.add (local.get $gRhs) (local.get $bOff))))`,
        `(local.set ${packedAcc(q, c)} (v128.load offset=${(q * cols + c) * 16} (local.get $gAcc)))`,
      ])),
      // the diagonal block (stored whole, plain product) starts the first chunk
      '(local.set $j0 (local.get $jc))',
      '(if (i32.eq (local.get $jc) (local.get $c0)) (then',
      ...half.startAt('(local.get $jc)', `(i32.add (local.get $jc) (i32.const ${G}))`, false),
      ...half.loop(`${label}Diag`, 1, half.rows(0), ['$xp']),
      `(local.set $j0 (i32.add (local.get $jc) (i32.const ${G})))`,
      '))',
      // the columns after it: both halves
      ...offLoops(`${label}Off`),
      ...qs.flatMap((q) => cs.map((c) => `(v128.store offset=${(q * cols + c) * 16} (local.get $gAcc) (local.get ${packedAcc(q, c)}))`)),
    ]),
    '(local.set $jc (local.get $jcEnd))',
    `(br $${label}Chunks)))`,
    ...packedGroupLoop(p, `${label}Out`, qs.flatMap((q) => cs.map((c) => store(q, c)))),
    `(local.set $i (i32.add (local.get $i) (i32.const ${r})))`,
    `(br $${label})))`,
  ];
}

/** Columns summed in float32 before a float32-sums product adds them to its float64 row totals. */
export const F32_SUM_CHUNK = 256;

/**
 * Bound on a float32-sums product's error per row, relative to Σ_j |K_ij b_j| (the entries' rounding and the
 * chunked float32 sums: a few units of 2⁻²⁴; the tests check it at every chunk and panel boundary).
 */
export const F32_SUMS_ERROR = 4e-7;
/** Rows whose mirror contributions a float32-sums product sums in float32 before adding them in float64. */
export const F32_SUM_PANEL = 32;

/**
 * The packed symmetric product of a float32 K with float32 arithmetic (see `denseSymmetricProductWat` for the
 * layout and the mirror sums): entries, b and the running sums stay float32 — no promotion, four entries per
 * instruction — and the sums go to float64 every `F32_SUM_CHUNK` columns (row totals) and every `F32_SUM_PANEL`
 * rows (mirror sums), so a product is float32-accurate (≈ 2⁻²⁴·Σ|K_ij b_j| per row) rather than exact on the
 * stored K. For consumers that accept the dtype's rounding (eigsh at float32 tolerance): the float64 sums cost
 * two promotions and twice the multiply-adds per pair of entries, which made that product compute-bound.
 * rhs32 is b in float32 (mPad entries, zero padded); mirror64/mirror32 are this task's column sums (zeroed here).
 */
export function denseSymmetricProductF32Wat(): string {
  const G = laneGroup('float64');
  const lg = Math.log2(G);
  const hsum = (v: string) => `(f64.add (f64x2.extract_lane 0 ${v}) (f64x2.extract_lane 1 ${v}))`;
  const high = (v: string) => `(i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${v} ${v})`;
  const zero = '(v128.const i64x2 0 0)';
  const flushMirror = [
    '(local.set $f (local.get $flushFrom))',
    '(block $mfDone (loop $mf',
    '(br_if $mfDone (i32.ge_u (local.get $f) (local.get $colEnd)))',
    '(local.set $y (v128.load (i32.add (local.get $mirror32) (local.get $f))))',
    '(local.set $g (i32.add (local.get $mirror64) (i32.shl (local.get $f) (i32.const 1))))',
    '(v128.store (local.get $g) (f64x2.add (v128.load (local.get $g)) (f64x2.promote_low_f32x4 (local.get $y))))',
    `(v128.store offset=16 (local.get $g) (f64x2.add (v128.load offset=16 (local.get $g)) (f64x2.promote_low_f32x4 ${high('(local.get $y)')})))`,
    `(v128.store (i32.add (local.get $mirror32) (local.get $f)) ${zero})`,
    '(local.set $f (i32.add (local.get $f) (i32.const 16)))',
    '(br $mf)))',
    '(local.set $panelRows (i32.const 0))',
  ];
  const term = (q: number) => `(f32x4.mul (local.get $k${q}) (local.get $b${q}))`;
  const mirrorTree = (qs: number[]): string => qs.length === 1 ? term(qs[0]!)
    : `(f32x4.add ${mirrorTree(qs.slice(0, qs.length / 2))} ${mirrorTree(qs.slice(qs.length / 2))})`;
  const rowLoop = (rows: number, label: string): string[] => {
    const qs = Array.from({ length: rows }, (_, q) => q);
    const flushRows = qs.map((q) => `(local.set $t${q} (f64x2.add (local.get $t${q}) (f64x2.add (f64x2.promote_low_f32x4 (local.get $a${q})) (f64x2.promote_low_f32x4 ${high(`(local.get $a${q})`)}))))`
      + ` (local.set $a${q} ${zero})`);
    return [
      `(block $${label}Done (loop $${label}`,
      `(br_if $${label}Done (i32.gt_u (i32.add (local.get $i) (i32.const ${rows})) (local.get $iEnd)))`,
      `(local.set $blk (i32.shr_u (local.get $i) (i32.const ${lg})))`,
      `(local.set $c0 (i32.shl (local.get $blk) (i32.const ${lg})))`,
      `(if (i32.eqz (local.get $panelRows)) (then (local.set $flushFrom (i32.shl (i32.add (local.get $c0) (i32.const ${G})) (i32.const 2)))))`,
      ...qs.flatMap((q) => [
        // p_q − 4·c0, so that row q's entry at column byte jx (4 bytes a column) is at p_q + jx
        `(local.set $p${q} (i32.sub (i32.add (local.get $K) (i32.shl ${packedRowOffsetWat('(local.get $blk)', `(i32.sub (i32.add (local.get $i) (i32.const ${q})) (local.get $c0))`, '(local.get $mPad)')} (i32.const 2))) (i32.shl (local.get $c0) (i32.const 2))))`,
        `(local.set $b${q} (f32x4.splat (f32.load (i32.add (local.get $rhs32) (i32.shl (i32.add (local.get $i) (i32.const ${q})) (i32.const 2))))))`,
        `(local.set $a${q} ${zero}) (local.set $t${q} ${zero})`,
      ]),
      // the diagonal block: stored whole, plain product
      '(local.set $jx (i32.shl (local.get $c0) (i32.const 2)))',
      `(local.set $jxEnd (i32.add (local.get $jx) (i32.const ${G * 4})))`,
      `(block $${label}DiagDone (loop $${label}Diag`,
      `(br_if $${label}DiagDone (i32.ge_u (local.get $jx) (local.get $jxEnd)))`,
      '(local.set $x (v128.load (i32.add (local.get $rhs32) (local.get $jx))))',
      ...qs.map((q) => `(local.set $a${q} (f32x4.add (local.get $a${q}) (f32x4.mul (v128.load (i32.add (local.get $p${q}) (local.get $jx))) (local.get $x))))`),
      '(local.set $jx (i32.add (local.get $jx) (i32.const 16)))',
      `(br $${label}Diag)))`,
      ...flushRows,
      // the columns after it, both halves, in chunks summed in float32
      `(block $${label}ChunksDone (loop $${label}Chunks`,
      `(br_if $${label}ChunksDone (i32.ge_u (local.get $jx) (local.get $colEnd)))`,
      `(local.set $jxEnd (select (local.get $colEnd) (i32.add (local.get $jx) (i32.const ${F32_SUM_CHUNK * 4})) (i32.lt_u (local.get $colEnd) (i32.add (local.get $jx) (i32.const ${F32_SUM_CHUNK * 4})))))`,
      `(block $${label}OffDone (loop $${label}Off`,
      `(br_if $${label}OffDone (i32.ge_u (local.get $jx) (local.get $jxEnd)))`,
      '(local.set $x (v128.load (i32.add (local.get $rhs32) (local.get $jx))))',
      '(local.set $y (v128.load (i32.add (local.get $mirror32) (local.get $jx))))',
      ...qs.flatMap((q) => [
        `(local.set $k${q} (v128.load (i32.add (local.get $p${q}) (local.get $jx))))`,
        `(local.set $a${q} (f32x4.add (local.get $a${q}) (f32x4.mul (local.get $k${q}) (local.get $x))))`,
      ]),
      // the mirror terms as a tree: its additions do not wait on each other
      `(v128.store (i32.add (local.get $mirror32) (local.get $jx)) (f32x4.add (local.get $y) ${mirrorTree(qs)}))`,
      '(local.set $jx (i32.add (local.get $jx) (i32.const 16)))',
      `(br $${label}Off)))`,
      ...flushRows,
      `(br $${label}Chunks)))`,
      ...qs.map((q) => `(f64.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $i) (i32.const ${q})) (i32.const 3))) ${hsum(`(local.get $t${q})`)})`),
      `(local.set $i (i32.add (local.get $i) (i32.const ${rows})))`,
      `(local.set $panelRows (i32.add (local.get $panelRows) (i32.const ${rows})))`,
      `(if (i32.ge_u (local.get $panelRows) (i32.const ${F32_SUM_PANEL})) (then ${flushMirror.join(' ')}))`,
      `(br $${label})))`,
    ];
  };
  const four = [0, 1, 2, 3];
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "reduce") (param $iStart i32) (param $iEnd i32) (param $K i32) (param $mPad i32) (param $rhs32 i32) (param $out i32) (param $mirror64 i32) (param $mirror32 i32)',
    '(local $i i32) (local $blk i32) (local $c0 i32) (local $jx i32) (local $jxEnd i32) (local $colEnd i32) (local $f i32) (local $g i32)',
    '(local $panelRows i32) (local $flushFrom i32) (local $x v128) (local $y v128)',
    four.map((q) => `(local $p${q} i32) (local $b${q} v128) (local $a${q} v128) (local $t${q} v128) (local $k${q} v128)`).join(' '),
    '(local.set $colEnd (i32.shl (local.get $mPad) (i32.const 2)))',
    // zero this task's mirrors
    '(local.set $f (i32.const 0))',
    '(block $zDone (loop $z',
    '(br_if $zDone (i32.ge_u (local.get $f) (local.get $colEnd)))',
    `(v128.store (i32.add (local.get $mirror32) (local.get $f)) ${zero})`,
    `(v128.store (i32.add (local.get $mirror64) (i32.shl (local.get $f) (i32.const 1))) ${zero})`,
    `(v128.store offset=16 (i32.add (local.get $mirror64) (i32.shl (local.get $f) (i32.const 1))) ${zero})`,
    '(local.set $f (i32.add (local.get $f) (i32.const 16)))',
    '(br $z)))',
    '(local.set $i (local.get $iStart))',
    ...rowLoop(4, 'blocks'),
    ...rowLoop(1, 'tail'),
    `(if (i32.gt_u (local.get $panelRows) (i32.const 0)) (then ${flushMirror.join(' ')}))`,
    '))',
  ].join('\n');
}

/**
 * The WAT text of the Gram matrix G = K·Kᵀ of the rows: for the row blocks of [aStart, aEnd),
 * G[a][b] = Σ_c K[a][c]·K[b][c] for every b ≥ the block's first row (the upper triangle and the
 * diagonal blocks; the caller mirrors it). Tiles of 4×2 rows keep 8 float64x2 accumulators in
 * registers, so each pair of entries loaded serves 4 or 2 multiply-adds; columns run in chunks of
 * GRAM_CHUNK_COLUMNS (outermost), so that the chunk of every row stays in cache for all the row blocks.
 * out is rows×rows float64, row-major (stride `rows`).
 */
export function denseGramWat(storage: 'float32' | 'float64'): string {
  const elem = storage === 'float32' ? 4 : 8;
  const acc = (q: number, s: number) => `$g${q}_${s}`;
  /** Accumulates the R×S tile at rows (a + q), (b + s) over the chunk, then adds it into out. */
  const tile = (R: number, S: number): string[] => {
    const qs = Array.from({ length: R }, (_, q) => q);
    const ss = Array.from({ length: S }, (_, s) => s);
    const hsum = (v: string) => `(f64.add (f64x2.extract_lane 0 ${v}) (f64x2.extract_lane 1 ${v}))`;
    const outAddr = (q: number, s: number) =>
      `(i32.add (local.get $out) (i32.shl (i32.add (i32.mul (i32.add (local.get $a) (i32.const ${q})) (local.get $rows)) (i32.add (local.get $b) (i32.const ${s}))) (i32.const 3)))`;
    return [
      ...ss.map((s) => `(local.set $pb${s} (i32.add (local.get $K) (i32.mul (i32.add (local.get $b) (i32.const ${s})) (local.get $rowBytes))))`),
      ...qs.flatMap((q) => ss.map((s) => `(local.set ${acc(q, s)} (v128.const i64x2 0 0))`)),
      '(local.set $kb (local.get $kb0))',
      // unrolled (wat-loops.ts)
      ...vectorLoop('i', 'kb', '(local.get $kb1)', [
        ...ss.map((s) => `(local.set $y${s} ${loadPair(storage, `(i32.add (local.get $pb${s}) (local.get $kb))`)})`),
        ...qs.flatMap((q) => [
          `(local.set $x ${loadPair(storage, `(i32.add (local.get $pa${q}) (local.get $kb))`)})`,
          ...ss.map((s) => `(local.set ${acc(q, s)} (f64x2.add (local.get ${acc(q, s)}) (f64x2.mul (local.get $x) (local.get $y${s}))))`),
        ]),
      ], GRAM_COPIES, 2 * elem),
      ...qs.flatMap((q) => ss.map((s) => `(f64.store ${outAddr(q, s)} (f64.add (f64.load ${outAddr(q, s)}) ${hsum(`(local.get ${acc(q, s)})`)}))`)),
    ];
  };
  /** Within the column chunk [kb0, kb1): the row blocks of R rows while a + R ≤ aEnd, tiles of 2 and then 1 b row from b = a. */
  const aLoop = (R: number, label: string): string[] => [
    `(block $${label}Done (loop $${label}`,
    `(br_if $${label}Done (i32.gt_u (i32.add (local.get $a) (i32.const ${R})) (local.get $aEnd)))`,
    ...Array.from({ length: R }, (_, q) => `(local.set $pa${q} (i32.add (local.get $K) (i32.mul (i32.add (local.get $a) (i32.const ${q})) (local.get $rowBytes))))`),
    '(local.set $b (local.get $a))',
    `(block $${label}PairsDone (loop $${label}Pairs`,
    `(br_if $${label}PairsDone (i32.gt_u (i32.add (local.get $b) (i32.const 2)) (local.get $rows)))`,
    ...tile(R, 2),
    '(local.set $b (i32.add (local.get $b) (i32.const 2)))',
    `(br $${label}Pairs)))`,
    `(if (i32.lt_u (local.get $b) (local.get $rows)) (then ${tile(R, 1).join(' ')}))`,
    `(local.set $a (i32.add (local.get $a) (i32.const ${R})))`,
    `(br $${label})))`,
  ];
  return [
    '(module',
    '(import "env" "mem" (memory 1 65536 shared))',
    '(func (export "reduce") (param $aStart i32) (param $aEnd i32) (param $K i32) (param $rowBytes i32) (param $rows i32) (param $out i32)',
    '(local $a i32) (local $b i32) (local $kb i32) (local $kb0 i32) (local $kb1 i32) (local $x v128) (local $y0 v128) (local $y1 v128)',
    '(local $pa0 i32) (local $pa1 i32) (local $pa2 i32) (local $pa3 i32) (local $pb0 i32) (local $pb1 i32)',
    Array.from({ length: 4 }, (_, q) => [0, 1].map((s) => `(local ${acc(q, s)} v128)`).join(' ')).join(' '),
    // column chunks outermost: a chunk of every b row (rows × GRAM_CHUNK_COLUMNS entries) stays in cache
    // while all row blocks pass over it, where rows-outermost streamed the whole K from memory per block
    '(local.set $kb0 (i32.const 0))',
    '(block $chunksDone (loop $chunks',
    '(br_if $chunksDone (i32.ge_u (local.get $kb0) (local.get $rowBytes)))',
    `(local.set $kb1 (select (local.get $rowBytes) (i32.add (local.get $kb0) (i32.const ${GRAM_CHUNK_COLUMNS * elem})) (i32.lt_u (local.get $rowBytes) (i32.add (local.get $kb0) (i32.const ${GRAM_CHUNK_COLUMNS * elem})))))`,
    '(local.set $a (local.get $aStart))',
    ...aLoop(4, 'blocks'),
    ...aLoop(1, 'tail'),
    '(local.set $kb0 (local.get $kb1))',
    '(br $chunks)))',
    '))',
  ].join('\n');
}

/**
 * Writes `columns` (length n) into `to` as a packed product reads them: groups of `width` columns, mPad doubles
 * each, interleaved within a group (`interleavedOffset`), zero padded.
 */
function interleave(to: Float64Array, columns: readonly Float64Array[], n: number, width: number, mPad: number): void {
  if (width === 1) {
    // one column a group is the plain layout (interleavedOffset(j, 0, 1) = 8j): copies, where the loop below ran cold
    columns.forEach((b, c) => {
      to.set(b.subarray(0, n), c * mPad);
      to.fill(0, c * mPad + n, (c + 1) * mPad);
    });
    return;
  }
  to.fill(0);
  columns.forEach((b, c) => {
    const g = (c - (c % width)) * mPad;
    for (let j = 0; j < n; j++) to[g + (interleavedOffset(j, c % width, width) >> 3)] = b[j]!;
  });
}

/** out[i] += column c of `from` in the layout of `interleave`, for i < out.length. */
function addInterleaved(out: Float64Array, from: Float64Array, c: number, width: number, mPad: number): void {
  const g = (c - (c % width)) * mPad;
  if (width === 1) {
    for (let i = 0; i < out.length; i++) out[i]! += from[g + i]!;
    return;
  }
  for (let i = 0; i < out.length; i++) out[i]! += from[g + (interleavedOffset(i, c % width, width) >> 3)]!;
}

type Storage = 'float32' | 'float64';

/** The fixed programs of a stored K, per storage: products with K (packed: in groups of 1 to PACKED_BLOCK_COLUMNS columns), Kᵀ, and the Gram. */
const storedPrograms = Object.fromEntries((['float32', 'float64'] as const).map((s) => {
  const symmetric = Array.from({ length: PACKED_BLOCK_COLUMNS }, (_, w) => fixedProgram(`denseSym|${s}|${w + 1}`, () => denseSymmetricProductWat(s, w + 1)));
  return [s, {
    dense: fixedProgram(`dense|${s}`, () => denseProductWat(s)),
    transposed: fixedProgram(`denseT|${s}`, () => denseTransposedProductWat(s)),
    gram: fixedProgram(`gram|${s}`, () => denseGramWat(s)),
    symmetric: (width: number) => {
      const compile = symmetric[width - 1];
      if (!compile) throw new Error(`internal: no packed product of ${width} columns a group`);
      return compile;
    },
  }];
})) as Record<Storage, { dense: FixedProgram; transposed: FixedProgram; gram: FixedProgram; symmetric: (width: number) => FixedProgram }>;
const compileSymmetricF32Sums = fixedProgram('denseSym|f32sums', denseSymmetricProductF32Wat);

/** Whether the packed product program of `width` columns a group is compiled in this process (tests read it). */
export function packedProgramCompiled(storage: Storage, width: number): boolean {
  return storedPrograms[storage].symmetric(width).compiled();
}

/** Passes of packed float64-sums products run, by columns a group (tests read it). */
export const packedPasses: Record<number, number> = {};

/**
 * A materialised n×m kernel matrix and its products. Products on one matrix run one at a time
 * (they share the right-hand-side and output area of its memory).
 */
export class DenseKernelMatrix {
  private queue: Promise<unknown> = Promise.resolve();
  private released = false;

  /**
   * @param mirrorSlots Packed products' row ranges, each with its mirror sums in the reserve: `mirrorTasks(n)` when K was
   * stored (0 unpacked), fixed for K's life — the reserve was sized for it, and the split sets the products' rounding.
   */
  private constructor(
    readonly n: number, readonly m: number, private readonly stored: MaterialisedKernel, private readonly gramReserved: boolean,
    private readonly mirrorSlots: number,
  ) {}

  /**
   * Whether K (n×m in `storage`), a product's buffers and the formula's points fit one
   * WebAssembly memory (4 GiB); 64 KiB more cover the parameters and lane masks. `gram` reserves
   * room for the n×n float64 Gram matrix K·Kᵀ too.
   */
  static fits(slots: FormulaSlots, n: number, m: number, storage: 'float32' | 'float64', options: DenseKernelOptions = {}): boolean {
    return memoryBytes(slots, n, m, storage, options) <= MAX_WASM_PAGES * 65536;
  }

  /** Bytes K takes in storage: n·m entries, or about half of them packed (symmetric). */
  static storedBytes(n: number, m: number, storage: 'float32' | 'float64', options: DenseKernelOptions = {}): number {
    return storedBytes(n, paddedRow(m), storage, options.symmetric === true);
  }

  /**
   * K of the formula, evaluated once in float64 and stored as `storage` (see `materialiseKernel`);
   * `symmetric` (n = m, K_ij = K_ji) stores each pair once, packed.
   */
  static async materialise(
    formula: Node, slots: FormulaSlots, n: number, m: number, storage: 'float32' | 'float64', options: DenseKernelOptions = {},
  ): Promise<DenseKernelMatrix> {
    if (options.symmetric && (n !== m || options.gram)) {
      throw new Error(`internal: packed symmetric storage needs n = m and no Gram reserve, got ${n}x${m}${options.gram ? ' with gram' : ''}`);
    }
    const mPad = paddedRow(m);
    // a store on this thread: the pages of its fresh memory are provided on another one while this thread assembles
    // the programs and V8 compiles them (the store takes it, see runProgram)
    if (rowTasks(n, m) === 1) prefaultMemory(Math.ceil(memoryBytes(slots, n, m, storage, options) / 65536));
    // the product program compiles (on V8's threads) while K is stored; a failure shows at the first product
    const product = options.symmetric ? storedPrograms[storage].symmetric(1)() : storedPrograms[storage].dense();
    product.catch(() => undefined);
    // the mirror slots the reserve is sized for, counted once: the thread count may change while K is stored
    const mirrorSlots = options.symmetric ? mirrorTasks(n) : 0;
    const stored = await materialiseKernel(formula, slots, n, m, storage, reserveFor(n, mPad, options, mirrorSlots), options.symmetric === true);
    if (stored.mPad !== mPad) throw new Error(`internal: materialised row stride ${stored.mPad}, expected ${mPad}`);
    return new DenseKernelMatrix(n, m, stored, options.gram === true, mirrorSlots);
  }

  /** Whether K is stored packed (symmetric: each pair once). */
  get packed(): boolean {
    return this.stored.packed;
  }

  get storage(): 'float32' | 'float64' {
    return this.stored.storage;
  }

  /**
   * K·c for each column c (length m), as float64 columns of length n (one pass over K per column; packed: up to
   * PACKED_PASS_COLUMNS columns a pass, in groups of PACKED_BLOCK_COLUMNS). Sums are
   * float64 (the stored K applied exactly up to float64 rounding); `sums: 'float32'` — for a packed float32 K
   * only, else ignored — sums in float32 chunks (`denseSymmetricProductF32Wat`): float32-accurate, faster.
   */
  multiply(columns: readonly Float64Array[], sums: 'float32' | 'float64' = 'float64'): Promise<Float64Array[]> {
    const f32 = sums === 'float32' && this.stored.storage === 'float32';
    return this.enqueue(() => (this.stored.packed ? this.runSymmetric(columns, f32) : this.run(columns)));
  }

  /** Kᵀ·z for each z (length n), as float64 columns of length m (one pass over K per column). */
  multiplyTransposed(columns: readonly Float64Array[]): Promise<Float64Array[]> {
    if (this.stored.packed) return this.multiply(columns); // Kᵀ = K
    return this.enqueue(() => this.runTransposed(columns));
  }

  /**
   * The Gram matrix K·Kᵀ (n×n, float64, row-major, symmetric): n²/2 dot products of stored rows,
   * split over the pool in row blocks of equal triangle work. Needs `materialise(…, { gram: true })`.
   */
  gram(): Promise<Float64Array> {
    if (!this.gramReserved) throw new Error('DenseKernelMatrix.gram: materialise with { gram: true } to reserve the n×n result (not for packed symmetric storage)');
    return this.enqueue(() => this.runGram());
  }

  /** The stored entries K[r][c] for r in `rows`, c in `cols`, as a |rows|×|cols| float64 row-major block. */
  entries(rows: ArrayLike<number>, cols: ArrayLike<number>): Float64Array {
    this.live('entries');
    const { memory, offset, mPad, storage, packed } = this.stored;
    const buf = memory.buffer as unknown as ArrayBuffer;
    const size = packed ? packedElements(this.n, mPad) : this.n * mPad;
    const K = storage === 'float64' ? new Float64Array(buf, offset, size) : new Float32Array(buf, offset, size);
    const group = laneGroup('float64');
    // packed: row r keeps columns from its group's first on; an entry before that is K[c][r]
    const at = (r: number, c: number): number => {
      if (!packed) return r * mPad + c;
      const c0 = r - (r % group);
      return c >= c0 ? packedRowOffset(r, mPad) + (c - c0) : at(c, r);
    };
    const out = new Float64Array(rows.length * cols.length);
    for (let a = 0; a < rows.length; a++) {
      const r = rows[a]!;
      if (!(Number.isInteger(r) && r >= 0 && r < this.n)) throw new RangeError(`DenseKernelMatrix.entries: row ${r} outside [0, ${this.n})`);
      for (let b = 0; b < cols.length; b++) {
        const c = cols[b]!;
        if (!(Number.isInteger(c) && c >= 0 && c < this.m)) throw new RangeError(`DenseKernelMatrix.entries: column ${c} outside [0, ${this.m})`);
        out[a * cols.length + b] = K[at(r, c)]!;
      }
    }
    return out;
  }

  /**
   * Row i of the stored K as a view into its memory, from column `first` to m − 1 (packed storage: from the
   * first column of i's lane group, ≤ i; else from 0), in the storage type — for copying out (a dense
   * factorisation). Valid until `release`.
   */
  row(i: number): { values: Float32Array | Float64Array; first: number } {
    this.live('row');
    if (!(Number.isInteger(i) && i >= 0 && i < this.n)) throw new RangeError(`DenseKernelMatrix.row: row ${i} outside [0, ${this.n})`);
    const { memory, offset, mPad, storage, packed } = this.stored;
    const first = packed ? i - (i % laneGroup('float64')) : 0;
    const start = packed ? packedRowOffset(i, mPad) : i * mPad;
    const buf = memory.buffer as unknown as ArrayBuffer;
    return storage === 'float64'
      ? { values: new Float64Array(buf, offset + start * 8, this.m - first), first }
      : { values: new Float32Array(buf, offset + start * 4, this.m - first), first };
  }

  /**
   * Hands the memory to the recycling pool (memory-pool.ts) once the products already queued have run;
   * any later use throws. Idempotent.
   */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.queue;
    recycleMemory(this.stored.memory);
  }

  private live(what: string): void {
    if (this.released) throw new Error(`DenseKernelMatrix.${what}: the stored ${this.n}x${this.m} matrix was released (its operator was disposed)`);
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    this.live('product');
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runSymmetric(columns: readonly Float64Array[], f32Sums: boolean): Promise<Float64Array[]> {
    const { n } = this;
    const all = new Float64Array(n * columns.length); // the results, column-major (a Block wraps them as they are)
    const into = (first: number, count: number) => all.subarray(first * n, (first + count) * n);
    if (f32Sums) {
      for (let c = 0; c < columns.length; c++) await this.symmetricF32Sums(columns[c]!, into(c, 1));
    } else {
      const programs = storedPrograms[this.stored.storage];
      // groups of PACKED_BLOCK_COLUMNS; the columns left over, fewer than a group, in a product of their own
      for (let first = 0; first < columns.length; first += PACKED_PASS_COLUMNS) {
        const cols = Math.min(PACKED_PASS_COLUMNS, columns.length - first);
        const whole = cols === 1 ? 1 : cols - (cols % PACKED_BLOCK_COLUMNS);
        const widths = [...(whole > 0 ? [Math.min(whole, PACKED_BLOCK_COLUMNS)] : []), ...(whole < cols ? [cols - whole] : [])];
        if (widths.some((w) => !programs.symmetric(w).compiled()) && programs.symmetric(1).compiled()) {
          // the wider programs are not compiled yet (a fresh process: 20–25 ms for 4 + 2 columns at n = 1,257, where
          // the product takes 2 ms): the one-column program, compiled, takes every column as a group of its own in
          // one pass now (the same sums in the same order, see denseSymmetricProductWat), while they compile for
          // later products
          for (const w of widths) programs.symmetric(w)().catch(() => undefined);
          await this.symmetricProduct(columns.slice(first, first + cols), 1, into(first, cols));
          continue;
        }
        if (whole > 0) await this.symmetricProduct(columns.slice(first, first + whole), widths[0]!, into(first, whole));
        if (whole < cols) await this.symmetricProduct(columns.slice(first + whole, first + cols), cols - whole, into(first + whole, cols - whole));
      }
    }
    return Array.from({ length: columns.length }, (_, c) => all.subarray(c * n, (c + 1) * n));
  }

  /**
   * Row ranges of a packed product: equal stored work (row i keeps ≈ n − i entries), in blocks of 4 rows, one per
   * mirror slot (`mirrorTasks` when K was stored), on the pool where it runs, else on the calling thread in order:
   * a split fixed per stored K, so that the mirrors' sum — added range by range — rounds the same either way.
   */
  private symmetricTasks(): { tasks: number; boundary: (t: number) => number; onPool: boolean } {
    const tasks = this.mirrorSlots;
    return { tasks, boundary: triangleBoundary(this.n, tasks, 4), onPool: rowTasks(this.n, this.n) > 1 };
  }

  /** K·columns (at most PACKED_PASS_COLUMNS, a multiple of `width`) into `into` (column-major), `width` columns a group. */
  private async symmetricProduct(columns: readonly Float64Array[], width: number, into: Float64Array): Promise<void> {
    const { n } = this;
    const { memory, offset, mPad, storage, reserveOffset } = this.stored;
    const buf = memory.buffer as unknown as ArrayBuffer;
    const { rhsOffset, outOffset, mirrorOffset, mirrorBytes, scratchOffset, scratchBytes } = packedLayout(reserveOffset, mPad, this.mirrorSlots);
    const { tasks, boundary, onPool } = this.symmetricTasks();
    const cols = columns.length;
    const module = await storedPrograms[storage].symmetric(width)();
    packedPasses[width] = (packedPasses[width] ?? 0) + 1;
    interleave(new Float64Array(buf, rhsOffset, cols * mPad), columns, n, width, mPad);
    const mirrorAt = (t: number) => mirrorOffset + t * PACKED_PASS_COLUMNS * mirrorBytes;
    await runRowRanges(module, memory, tasks, boundary,
      (t, iStart, iEnd) => [iStart, iEnd, offset, mPad, rhsOffset, outOffset, mirrorAt(t), cols / width, scratchOffset + t * scratchBytes], onPool);
    // one column a group: the mirrors are added where they lie, by the program where it runs (a fresh process ran the
    // loop cold: a boxed double an entry), then copied out once
    const add = width === 1 ? adderOn(memory) : undefined;
    for (let c = 0; c < cols; c++) {
      const out = into.subarray(c * n, (c + 1) * n);
      for (let t = 0; add && t < tasks; t++) {
        if (boundary(t + 1) > boundary(t)) add(outOffset + c * mirrorBytes, mirrorAt(t) + 8 * c * mPad, n);
      }
      out.set(new Float64Array(buf, outOffset + c * mirrorBytes, n));
      for (let t = 0; !add && t < tasks; t++) {
        if (boundary(t + 1) <= boundary(t)) continue; // a task that did not run left its mirror stale
        addInterleaved(out, new Float64Array(buf, mirrorAt(t), cols * mPad), c, width, mPad);
      }
    }
  }

  /** K·column with float32 sums (`denseSymmetricProductF32Wat`) into `into`. */
  private async symmetricF32Sums(column: Float64Array, into: Float64Array): Promise<void> {
    const { n } = this;
    const { memory, offset, mPad, reserveOffset } = this.stored;
    const buf = memory.buffer as unknown as ArrayBuffer;
    const { outOffset, mirrorOffset, mirrorBytes, mirror32Offset, mirror32Bytes, rhs32Offset } = packedLayout(reserveOffset, mPad, this.mirrorSlots);
    const { tasks, boundary, onPool } = this.symmetricTasks();
    const module = await compileSymmetricF32Sums();
    const rhs32 = new Float32Array(buf, rhs32Offset, mPad);
    rhs32.fill(0, n);
    rhs32.set(column);
    const mirrorAt = (t: number) => mirrorOffset + t * PACKED_PASS_COLUMNS * mirrorBytes;
    await runRowRanges(module, memory, tasks, boundary,
      (t, iStart, iEnd) => [iStart, iEnd, offset, mPad, rhs32Offset, outOffset, mirrorAt(t), mirror32Offset + t * mirror32Bytes], onPool);
    const add = adderOn(memory);
    for (let t = 0; add && t < tasks; t++) if (boundary(t + 1) > boundary(t)) add(outOffset, mirrorAt(t), n);
    into.set(new Float64Array(buf, outOffset, n));
    for (let t = 0; !add && t < tasks; t++) {
      if (boundary(t + 1) <= boundary(t)) continue;
      const mirror = new Float64Array(buf, mirrorAt(t), n);
      for (let i = 0; i < n; i++) into[i]! += mirror[i]!;
    }
  }

  private async runTransposed(columns: readonly Float64Array[]): Promise<Float64Array[]> {
    const { n, m } = this;
    const { memory, offset, mPad, storage, reserveOffset } = this.stored;
    const elem = storage === 'float64' ? 8 : 4;
    const buf = memory.buffer as unknown as ArrayBuffer;
    const rhsOffset = reserveOffset; // z: n float64
    const outOffset = reserveOffset + align16(n * 8); // Kᵀz: mPad float64 (padding columns of K are 0)
    const tasks = rowTasks(m, n);
    const groups = mPad / 16; // column ranges in whole lane groups (even, as the pairs of the kernel need)
    const module = await storedPrograms[storage].transposed();
    const rhs = new Float64Array(buf, rhsOffset, n);
    const results: Float64Array[] = [];
    for (const column of columns) {
      rhs.set(column);
      await runRowRanges(module, memory, tasks, (t) => Math.floor((t * groups) / tasks) * 16,
        (_t, cStart, cEnd) => [cStart, cEnd, offset, mPad * elem, n, rhsOffset, outOffset]);
      results.push(new Float64Array(buf, outOffset, m).slice());
    }
    return results;
  }

  private async runGram(): Promise<Float64Array> {
    const { n } = this;
    const { memory, offset, mPad, storage, reserveOffset } = this.stored;
    const elem = storage === 'float64' ? 8 : 4;
    const buf = memory.buffer as unknown as ArrayBuffer;
    const gOffset = reserveOffset + productReserve(n, mPad);
    const G = new Float64Array(buf, gOffset, n * n);
    G.fill(0); // the tiles add into it
    const tasks = rowTasks(n, Math.ceil((mPad * (n + 1)) / 2)); // n rows of ≈ (n + 1)/2 dot products of mPad terms
    const module = await storedPrograms[storage].gram();
    // row a's tiles cover b ≥ a: a triangle, in blocks of 4 rows
    const boundary = triangleBoundary(n, tasks, 4);
    await runRowRanges(module, memory, tasks, boundary, (_t, aStart, aEnd) => [aStart, aEnd, offset, mPad * elem, n, gOffset]);
    const out = G.slice();
    for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) out[b * n + a] = out[a * n + b]!;
    return out;
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
    const module = await storedPrograms[storage].dense();
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
