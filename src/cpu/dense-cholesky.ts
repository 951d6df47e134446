/**
 * Dense Cholesky factorisation and solves by WASM SIMD (f64x2), for the k×k Gram matrices of the
 * preconditioners once k reaches the thousands, where the pure-JS `choleskyUpper` /
 * `choleskySolveInPlace` of preconditioners/dense.ts take seconds. `CholeskySolver.factor` also
 * runs in float32 (f32x4: twice the multiply-adds per instruction, half the bytes of R), for solves
 * that refine the answer on float64 products (src/preconditioners/solve.ts).
 *
 * Measured 2026-11-21 on the development VM, 2 vCPUs (AMD EPYC, Node 20; best and median of
 * 5–7 runs, random diagonally dominant SPD M, another job sometimes sharing the machine):
 *
 *   k      choleskyUpper (JS)   choleskyUpperWasm, 1 thread   2 threads (pool)
 *   1024   171–178 ms           21–23 ms                      20–25 ms
 *   2048   1.31–1.50 s          139–152 ms                    110–134 ms
 *
 *   solve, q = 1: k = 1024 0.2 ms (JS 3.3 ms); k = 2048 1.0–3 ms (JS 16 ms); q = 4 at k = 2048
 *   2.5–4 ms (one pass over R for the four columns).
 *
 * The pool gains only 1.2–1.3× on these two vCPUs for this compute-bound loop; the trailing
 * updates split by rows over as many threads as the pool has.
 *
 * The program text is fixed (generated here from constants; no input reaches it).
 */
import { fixedProgram } from './programs.js';
import { unrolledLoop, vectorLoop } from './wat-loops.js';
import { runRowRanges, triangleBoundary } from './reduce.js';
import { acquireMemory, awaitPrefaulted, prefaultMemory, recycleMemory, takePrefaulted } from './memory-pool.js';
import { poolTasks, timeSoloWork } from './pool.js';
import { memoryBase, newWasmMemory } from './platform.js';

/**
 * Rows of R per panel of the blocked factorisation (a multiple of 4 and of UNROLL). 32, 64, 96 and
 * 128 measured alike at k = 2048; 64 keeps the packed panel (64·k·8 bytes, 1 MiB at k = 2048) in L2.
 */
const PANEL = 64;
/**
 * Panel rows per step of the trailing-update loop, in one block (the generated code repeats its body).
 * More measured slower: k = 2048 on one thread took 140–150 ms at 1, 190–260 ms at 2 and 210–360 ms at
 * 4 — in one block TurboFan hoists every copy's loads and spills. The loop is unrolled twice instead with
 * the exit tested between the copies (`unrolledLoop`, wat-loops.ts), which gives V8's own unrolled code.
 */
const UNROLL = 1;
/**
 * Rows of a panel factored unblocked at a time (a multiple of 8: a float32 tile's width): after each step the panel's
 * later rows take its update by the trailing update's tiles (`reduce`). Unblocked, each multiply-add pair loads and
 * stores a row entry: the whole 64-row panel that way took 7.7 of the 58 ms of a factor at k = 1,500 (one thread).
 */
const PANEL_STEP = 16;
/**
 * Vectors a trip in the panel's row loops (wat-loops.ts): 4 was the fastest of 2, 4 and 6 for a factor at k = 1,500
 * (medians of 8 in one run: 64, 76 and 69 ms). Against V8's own unrolling the factor measures the same within ±5 %
 * (alternating runs disagree on the sign: 63.1 against 60.2 ms, 64.9 against 69.6).
 */
const PANEL_COPIES = 4;
/**
 * Below this many multiply-adds a trailing update runs on the calling thread: smaller updates
 * (k ≲ 800) measured no faster on the pool, whose round trip each panel pays.
 */
const MIN_MADDS_FOR_POOL = 1 << 24;

/**
 * Right-hand sides per pass of the solves: each pass reads R once (R outgrows the caches from k ≈ 1,000), so a pass
 * for 8 columns halves what a 10-column block reads against 4; 8 accumulators and 8 splats still fit the 16 registers.
 */
export const SOLVE_COLUMNS = 8;

/** log₂ of the rows per group of a factor's layout (`RowLayout`): a panel's rows, so no panel straddles two groups. */
const GROUP_SHIFT = Math.log2(PANEL);
/** The address (in every memory holding a factor) of the i32 that points to its row table (`RowLayout`). */
const TABLE_POINTER = 0;
/** Bytes before a factor's matrix: the table pointer, then nothing (64 keeps the matrix aligned to a cache line). */
const MATRIX_OFFSET = 64;

/** Largest memory the programs address: one page short of 4 GiB, so no end address wraps to 0. */
const MAX_BYTES = (65536 - 1) * 65536;

const align64 = (b: number) => Math.ceil(b / 64) * 64;
const pagesFor = (bytes: number) => Math.ceil(bytes / 65536);

function checkOrder(k: number, what: string): void {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`${what}: k must be a positive integer, got ${k}`);
}

/** A shared memory of `bytes` from the recycling pool (memory-pool.ts), after checking it is addressable. */
function poolMemory(bytes: number, what: string): WebAssembly.Memory {
  if (bytes > MAX_BYTES) {
    throw new RangeError(`${what}: needs ${(bytes / 2 ** 30).toFixed(2)} GiB of WASM memory (more than 4 GiB)`);
  }
  return acquireMemory(pagesFor(bytes));
}

const get = (name: string) => `(local.get $${name})`;
const set = (name: string, value: string) => `(local.set $${name} ${value})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const c32 = (v: number) => `(i32.const ${v})`;
/**
 * Row r of a factor's matrix, from a table: entry (r, c) lies at base + origin[g] + r·stride[g] + c·bytes for the row
 * group g = r >> GROUP_SHIFT, the pairs (origin, stride) i32s in a table whose address the programs read at address 0
 * (`RowLayout`). `r` must be a side-effect-free expression (it is read three times).
 */
const groupEntry = (r: string) => add(`(i32.load ${c32(TABLE_POINTER)})`, `(i32.shl (i32.shr_u ${r} ${c32(GROUP_SHIFT)}) ${c32(3)})`);
const rowPtr = (base: string, r: string) => add(add(base, `(i32.load ${groupEntry(r)})`), `(i32.mul ${r} (i32.load offset=4 ${groupEntry(r)}))`);
const rowStride = (r: string) => `(i32.load offset=4 ${groupEntry(r)})`;
/** Working precision of a factor: float64 (f64x2 lanes) or float32 (f32x4 lanes, twice the multiply-adds per instruction). */
export type FactorDtype = 'float64' | 'float32';

/** The WAT vocabulary of one precision: scalar and vector types, bytes per entry, columns per 32-byte register pair. */
interface Lanes {
  readonly T: 'f64' | 'f32';
  readonly V: 'f64x2' | 'f32x4';
  readonly bytes: 8 | 4;
  readonly shift: 3 | 2;
  readonly lanes: 2 | 4;
  /** Columns of a packed block and of an update tile: one pair of v128 registers (32 bytes). */
  readonly width: 4 | 8;
  readonly splat: 'v128.load64_splat' | 'v128.load32_splat';
}

const LANES: Record<FactorDtype, Lanes> = {
  float64: { T: 'f64', V: 'f64x2', bytes: 8, shift: 3, lanes: 2, width: 4, splat: 'v128.load64_splat' },
  float32: { T: 'f32', V: 'f32x4', bytes: 4, shift: 2, lanes: 4, width: 8, splat: 'v128.load32_splat' },
};

/**
 * Where the rows of a factor's kp×kp matrix lie, relative to its start: a table of (origin, stride) per group of
 * 2^GROUP_SHIFT rows, entry (r, c) at origin[g] + r·stride[g] + c·bytes. 'packed': group g keeps columns from its first
 * row g·2^GROUP_SHIFT on (R is upper triangular; the left of the diagonal inside a group is the update's scratch): half
 * the square's address space, so a float64 factor fits a 4 GiB memory up to k ≈ 32,000 (the square: ≈ 23,000). (The
 * pages a process faults in barely change: the square's never-written lower triangle was never faulted in either.)
 * 'full': every row all kp entries (R copied from a k×k array).
 */
class RowLayout {
  private constructor(readonly table: Int32Array, readonly bytes: number) {}

  static packed(kp: number, bytes: number): RowLayout {
    const G = 1 << GROUP_SHIFT;
    const groups = Math.ceil(kp / G);
    const table = new Int32Array(2 * groups);
    let start = 0;
    for (let g = 0; g < groups; g++) {
      const first = g * G;
      const stride = (kp - first) * bytes;
      // (r, c) at start + (r − first)·stride + (c − first)·bytes; i32 arithmetic wraps, as the programs' does
      table[2 * g] = start - first * stride - first * bytes;
      table[2 * g + 1] = stride;
      start += Math.min(G, kp - first) * stride;
    }
    return new RowLayout(table, start);
  }

  static full(kp: number, bytes: number): RowLayout {
    const table = new Int32Array(2 * Math.ceil(kp / (1 << GROUP_SHIFT)));
    for (let g = 0; g < table.length; g += 2) table[g + 1] = kp * bytes;
    return new RowLayout(table, kp * kp * bytes);
  }

  /** Byte offset of entry (r, c) from the matrix's start. */
  offset(r: number, c: number, bytes: number): number {
    const g = r >> GROUP_SHIFT;
    // modulo 2³², as the programs' i32 arithmetic: an origin may be stored wrapped (or be below 0: rows start past it)
    return (this.table[2 * g]! + r * this.table[2 * g + 1]! + c * bytes) >>> 0;
  }

  /** Writes the table at `at` (bytes) of `buf` and its address at TABLE_POINTER. */
  install(buf: ArrayBuffer, at: number): void {
    new Int32Array(buf, at, this.table.length).set(this.table);
    new Int32Array(buf, TABLE_POINTER, 1)[0] = at;
  }
}

/** Working-matrix stride in entries: k rounded up to a whole tile width (the update writes whole tiles). */
const paddedOrder = (k: number, dtype: FactorDtype) => Math.ceil(k / LANES[dtype].width) * LANES[dtype].width;

/** Where `CholeskySolver.factor` puts R (row-group packed, from `aOffset`), the packed panel and the row table; `end`: the end of the last. */
function factorLayout(k: number, dtype: FactorDtype, aOffset = MATRIX_OFFSET): { kp: number; layout: RowLayout; pOffset: number; tOffset: number; end: number } {
  const { bytes } = LANES[dtype];
  const kp = paddedOrder(k, dtype);
  const layout = RowLayout.packed(kp, bytes);
  const pOffset = align64(aOffset + layout.bytes);
  const tOffset = align64(pOffset + PANEL * kp * bytes);
  return { kp, layout, pOffset, tOffset, end: tOffset + 4 * layout.table.length };
}

/** WAT for `while (ptr & 15) and ptr < end: body; ptr += bytes` — scalar steps up to a 16-byte boundary. */
function alignLoop(label: string, ptrs: string[], end: string, bytes: number, body: string[]): string[] {
  return [
    `(block $${label}Done (loop $${label}Loop`,
    `(br_if $${label}Done (i32.eqz (i32.and ${get(ptrs[0]!)} ${c32(15)})))`,
    `(br_if $${label}Done (i32.ge_u ${get(ptrs[0]!)} ${end}))`,
    ...body,
    ...ptrs.map((p) => set(p, add(get(p), c32(bytes)))),
    `(br $${label}Loop)))`,
  ];
}

/** `v` · an entry's bytes, as the i32 shift of a precision (`LANES`). */
const shiftBy = (shift: number) => (v: string) => `(i32.shl ${v} ${c32(shift)})`;

/** `panel`: the rows of a panel (or a step of one) factored unblocked (see `factorWat`). */
function panelWat(dtype: FactorDtype): string[] {
  const { T, V, bytes } = LANES[dtype];
  const sh = shiftBy(LANES[dtype].shift);
  const panel = [
    '(func (export "panel") (param $j0 i32) (param $j1 i32) (param $kp i32) (param $A i32) (result i32)',
    '(local $S i32) (local $j i32) (local $rowJ i32) (local $end i32) (local $pj i32) (local $a i32) (local $pa i32)',
    `(local $d ${T}) (local $p ${T}) (local $r ${T}) (local $pv v128) (local $rv v128)`,
    set('S', sh(get('kp'))),
    set('j', get('j0')),
    '(block $jDone (loop $jLoop',
    `(br_if $jDone (i32.ge_u ${get('j')} ${get('j1')}))`,
    set('rowJ', rowPtr(get('A'), get('j'))),
    set('end', add(get('rowJ'), get('S'))),
    set('pj', add(get('rowJ'), sh(get('j')))),
    set('d', `(${T}.load ${get('pj')})`),
    // not (0 < d < ∞): NaN, ±∞, zero and negative pivots all stop here
    `(if (i32.eqz (i32.and (${T}.gt ${get('d')} (${T}.const 0)) (${T}.lt ${get('d')} (${T}.const inf)))) (then (return ${get('j')})))`,
    set('p', `(${T}.sqrt ${get('d')})`),
    `(${T}.store ${get('pj')} ${get('p')})`,
    // R[j][b] = A[j][b] / p for b > j: scalars up to a 16-byte boundary, then whole vectors (rows end on one)
    set('pj', add(get('pj'), c32(bytes))),
    ...alignLoop('s0', ['pj'], get('end'), bytes, [`(${T}.store ${get('pj')} (${T}.div (${T}.load ${get('pj')}) ${get('p')}))`]),
    set('pv', `(${V}.splat ${get('p')})`),
    ...vectorLoop('s', 'pj', get('end'), [`(v128.store ${get('pj')} (${V}.div (v128.load ${get('pj')}) ${get('pv')}))`], PANEL_COPIES),
    // rows a ∈ (j, j1) of the panel: A[a][b] −= R[j][a]·R[j][b] for b ≥ a
    set('a', add(get('j'), c32(1))),
    '(block $aDone (loop $aLoop',
    `(br_if $aDone (i32.ge_u ${get('a')} ${get('j1')}))`,
    set('pj', add(get('rowJ'), sh(get('a')))),
    set('r', `(${T}.load ${get('pj')})`),
    set('rv', `(${V}.splat ${get('r')})`),
    set('pa', add(rowPtr(get('A'), get('a')), sh(get('a')))),
    set('end', add(rowPtr(get('A'), get('a')), get('S'))),
    // pa and pj share their offset within 16 bytes (rows are whole vectors long)
    ...alignLoop('u0', ['pa', 'pj'], get('end'), bytes,
      [`(${T}.store ${get('pa')} (${T}.sub (${T}.load ${get('pa')}) (${T}.mul ${get('r')} (${T}.load ${get('pj')}))))`]),
    ...vectorLoop('u', 'pa', get('end'), [
      `(v128.store ${get('pa')} (${V}.sub (v128.load ${get('pa')}) (${V}.mul ${get('rv')} (v128.load ${get('pj')}))))`,
      set('pj', add(get('pj'), c32(16))),
    ], PANEL_COPIES),
    set('a', add(get('a'), c32(1))),
    '(br $aLoop)))',
    set('j', add(get('j'), c32(1))),
    '(br $jLoop)))',
    '(i32.const -1))',
  ];

  return panel;
}

/** `pack`: a panel's columns copied into blocks of `width` (see `factorWat`). */
function packWat(dtype: FactorDtype): string[] {
  const sh = shiftBy(LANES[dtype].shift);
  // a packed block is `width` columns × nb rows, 32 bytes a row, whatever the precision
  const pack = [
    '(func (export "pack") (param $j0 i32) (param $j1 i32) (param $nb i32) (param $kp i32) (param $A i32) (param $P i32)',
    '(local $S i32) (local $blk i32) (local $t i32) (local $row i32) (local $src i32) (local $end i32) (local $dst i32)',
    set('S', sh(get('kp'))),
    set('blk', `(i32.shl ${get('nb')} ${c32(5)})`),
    set('t', c32(0)),
    '(block $tDone (loop $tLoop',
    `(br_if $tDone (i32.ge_u ${get('t')} ${get('nb')}))`,
    set('row', add(get('j0'), get('t'))),
    set('src', add(rowPtr(get('A'), get('row')), sh(get('j1')))),
    set('end', add(rowPtr(get('A'), get('row')), get('S'))),
    set('dst', add(get('P'), `(i32.shl ${get('t')} ${c32(5)})`)),
    '(block $cDone (loop $cLoop',
    `(br_if $cDone (i32.ge_u ${get('src')} ${get('end')}))`,
    `(v128.store offset=0 ${get('dst')} (v128.load offset=0 ${get('src')}))`,
    `(v128.store offset=16 ${get('dst')} (v128.load offset=16 ${get('src')}))`,
    set('src', add(get('src'), c32(32))),
    set('dst', add(get('dst'), get('blk'))),
    '(br $cLoop)))',
    set('t', add(get('t'), c32(1))),
    '(br $tLoop)))',
    ')',
  ];

  return pack;
}

/** `reduce`: the trailing update in tiles of 4 rows × `width` columns (see `factorWat`). */
function reduceWat(dtype: FactorDtype): string[] {
  const { V, bytes, width, splat } = LANES[dtype];
  const sh = shiftBy(LANES[dtype].shift);
  const qs = [0, 1, 2, 3];
  const acc = (q: number, h: number) => `c${q}_${h}`;
  const tStep = (u: number) => [
    set('rb0', `(v128.load offset=${u * 32} ${get('tb')})`),
    set('rb1', `(v128.load offset=${u * 32 + 16} ${get('tb')})`),
    ...qs.flatMap((q) => [
      set('s', `(${splat} offset=${u * 32 + q * bytes} ${get('ta')})`),
      set(acc(q, 0), `(${V}.add ${get(acc(q, 0))} (${V}.mul ${get('s')} ${get('rb0')}))`),
      set(acc(q, 1), `(${V}.add ${get(acc(q, 1))} (${V}.mul ${get('s')} ${get('rb1')}))`),
    ]),
  ];
  const wShift = Math.log2(width);
  const update = [
    '(func (export "reduce") (param $aStart i32) (param $aEnd i32) (param $j1 i32) (param $nb i32) (param $kp i32) (param $A i32) (param $P i32)',
    '(local $S i32) (local $blk i32) (local $a i32) (local $b i32) (local $pa0 i32) (local $pb i32) (local $ta i32) (local $tb i32) (local $tend i32) (local $cp i32) (local $rel i32) (local $rowA i32) (local $Sa i32)',
    '(local $rb0 v128) (local $rb1 v128) (local $s v128)',
    qs.map((q) => `(local $${acc(q, 0)} v128) (local $${acc(q, 1)} v128)`).join(' '),
    set('S', sh(get('kp'))),
    set('blk', `(i32.shl ${get('nb')} ${c32(5)})`),
    set('a', get('aStart')),
    '(block $aDone (loop $aLoop',
    `(br_if $aDone (i32.ge_u ${get('a')} ${get('aEnd')}))`,
    // rows a..a+3 lie in the packed block of columns b0 = j1 + width·⌊(a − j1)/width⌋; tiles start at b0 (≤ a:
    // the part left of the diagonal is scratch)
    set('rel', `(i32.sub ${get('a')} ${get('j1')})`),
    // rows a..a+3 share a row group (groups are multiples of 4 rows): one start and stride for the four
    set('rowA', rowPtr(get('A'), get('a'))),
    set('Sa', rowStride(get('a'))),
    set('pa0', add(get('P'), `(i32.mul (i32.shr_u ${get('rel')} ${c32(wShift)}) ${get('blk')})`)),
    set('b', add(get('j1'), `(i32.and ${get('rel')} ${c32(-width)})`)),
    set('pb', get('pa0')),
    set('pa0', add(get('pa0'), sh(`(i32.and ${get('rel')} ${c32(width - 1)})`))),
    '(block $bDone (loop $bLoop',
    `(br_if $bDone (i32.ge_u ${get('b')} ${get('kp')}))`,
    ...qs.flatMap((q) => [set(acc(q, 0), '(v128.const i64x2 0 0)'), set(acc(q, 1), '(v128.const i64x2 0 0)')]),
    set('ta', get('pa0')),
    set('tb', get('pb')),
    set('tend', add(get('pb'), get('blk'))),
    // two panel rows a trip (wat-loops.ts; more measured no faster); nb ≥ 1, as the plain loop assumed
    ...unrolledLoop('t', `(i32.ge_u ${get('tb')} ${get('tend')})`, [
      ...Array.from({ length: UNROLL }, (_, u) => tStep(u)).flat(),
      set('ta', add(get('ta'), c32(32 * UNROLL))),
      set('tb', add(get('tb'), c32(32 * UNROLL))),
    ], 2),
    set('cp', add(get('rowA'), sh(get('b')))),
    ...qs.flatMap((q) => [
      ...(q > 0 ? [set('cp', add(get('cp'), get('Sa')))] : []),
      `(v128.store offset=0 ${get('cp')} (${V}.sub (v128.load offset=0 ${get('cp')}) ${get(acc(q, 0))}))`,
      `(v128.store offset=16 ${get('cp')} (${V}.sub (v128.load offset=16 ${get('cp')}) ${get(acc(q, 1))}))`,
    ]),
    set('b', add(get('b'), c32(width))),
    set('pb', add(get('pb'), get('blk'))),
    '(br $bLoop)))',
    set('a', add(get('a'), c32(4))),
    '(br $aLoop)))',
    ')',
  ];

  return update;
}

/** `rowsums`: Σ_j |M_ij| of the symmetric matrix from its upper triangle (see `factorWat`). */
function rowsumsWat(dtype: FactorDtype): string[] {
  const { T, bytes } = LANES[dtype];
  const sh = shiftBy(LANES[dtype].shift);
  // out[i] = Σ_j |M[i][j]| (f64, kp entries) from the upper triangle: row i adds its entries to out[i] and each
  // off-diagonal one to out[j] — in WASM: a JS loop over n²/2 entries runs unoptimised in a fresh process (≈ 40 ms at n = 1,500)
  const widen = (v: string) => (T === 'f64' ? v : `(f64.promote_f32 ${v})`);
  const rowsums = [
    '(func (export "rowsums") (param $k i32) (param $kp i32) (param $A i32) (param $out i32)',
    '(local $S i32) (local $i i32) (local $p i32) (local $end i32) (local $po i32) (local $s f64) (local $v f64)',
    set('S', sh(get('kp'))),
    set('i', c32(0)),
    '(block $iDone (loop $iLoop',
    `(br_if $iDone (i32.ge_u ${get('i')} ${get('k')}))`,
    set('p', add(rowPtr(get('A'), get('i')), sh(get('i')))),
    set('end', add(rowPtr(get('A'), get('i')), sh(get('k')))),
    set('po', add(get('out'), `(i32.shl ${get('i')} ${c32(3)})`)),
    set('s', `(f64.abs ${widen(`(${T}.load ${get('p')})`)})`),
    '(block $jDone (loop $jLoop',
    set('p', add(get('p'), c32(bytes))),
    set('po', add(get('po'), c32(8))),
    `(br_if $jDone (i32.ge_u ${get('p')} ${get('end')}))`,
    set('v', `(f64.abs ${widen(`(${T}.load ${get('p')})`)})`),
    set('s', `(f64.add ${get('s')} ${get('v')})`),
    `(f64.store ${get('po')} (f64.add (f64.load ${get('po')}) ${get('v')}))`,
    '(br $jLoop)))',
    set('po', add(get('out'), `(i32.shl ${get('i')} ${c32(3)})`)),
    `(f64.store ${get('po')} (f64.add (f64.load ${get('po')}) ${get('s')}))`,
    set('i', add(get('i'), c32(1))),
    '(br $iLoop)))',
    ')',
  ];

  return rowsums;
}

/**
 * The factorisation program, in float64 or float32 (`LANES`). It works on R itself, upper triangle, row-major
 * with a row stride of kp entries (k rounded up to a tile's width W: 4 in float64, 8 in float32 — a tile row
 * is one pair of v128 registers), overwriting a copy of M's upper triangle — row t of R is column t of
 * L = Rᵀ, so every inner loop runs along a contiguous row. Right-looking by panels of PANEL rows:
 *
 * - `panel(j0, j1, kp, A)`: rows [j0, j1) of the partly reduced matrix → rows of R, unblocked
 *   (pivot, scale the row, rank-1 update of the panel's later rows, each along a row); returns the
 *   first row whose pivot is not positive and finite, or −1.
 * - `pack(j0, j1, nb, kp, A, P)`: copies the panel's columns [j1, kp) into P as blocks of W
 *   columns × nb rows, each block contiguous (no power-of-two strides in the update's loads).
 * - `reduce(aStart, aEnd, j1, nb, kp, A, P)`: the trailing update A[a][b] −= Σ_t R[t][a]·R[t][b]
 *   for rows a ∈ [aStart, aEnd) (multiples of 4) and columns b ≥ a, in 4×W tiles: per panel row
 *   t one pair of vector loads of R[t][b..b+W) and four splats of R[t][a..a+3] feed 8 independent
 *   accumulators (4·W multiply-adds from 6 loads, all from L1/L2). In float32 a row group's first
 *   tile starts at its block's first column, up to 4 left of the diagonal. Rows are independent,
 *   so the pool can split them (`trailingUpdate`).
 * - `rowsums(k, kp, A, out)`: Σ_j |M_ij| of the symmetric matrix from its upper triangle, before factoring.
 *
 * Entries below the diagonal of the working matrix are scratch: the tiles on the diagonal
 * write there, nothing else reads them, and the caller copies out the upper triangle only.
 */
function factorWat(dtype: FactorDtype): string {
  return ['(module', '(import "env" "mem" (memory 1 65536 shared))', ...panelWat(dtype), ...packWat(dtype), ...reduceWat(dtype), ...rowsumsWat(dtype), ')'].join('\n');
}

interface FactorExports {
  panel(j0: number, j1: number, kp: number, A: number): number;
  pack(j0: number, j1: number, nb: number, kp: number, A: number, P: number): void;
  reduce(aStart: number, aEnd: number, j1: number, nb: number, kp: number, A: number, P: number): void;
  rowsums(k: number, kp: number, A: number, out: number): void;
}

/**
 * A rank-`rank` trailing update of rows [first, end) by a `reduce` export (this factorisation's or the LU's,
 * dense-lu-wasm.ts), whose arguments for rows [r0, r1) are `args(r0, r1)`: over the columns [first, end) of each row,
 * from the row's diagonal on where `triangular`. Split by rows over the pool when its workers run (it starts once the
 * calling thread's share of such work adds up: poolTasks), else run on the calling thread.
 */
export async function trailingUpdate(
  program: { module: WebAssembly.Module; memory: WebAssembly.Memory; reduce: (...a: number[]) => void },
  region: { first: number; end: number; rank: number; triangular: boolean },
  args: (r0: number, r1: number) => number[],
): Promise<void> {
  const { first, end, rank, triangular } = region;
  const rows = end - first;
  const madds = triangular ? (rows * rows * rank) / 2 : rows * rows * rank;
  const pooled = madds >= MIN_MADDS_FOR_POOL;
  const tasks = pooled ? Math.max(1, Math.min(poolTasks(false), Math.floor(rows / 4))) : 1;
  if (tasks === 1) return timeSoloWork(() => program.reduce(...args(first, end)), pooled);
  // ranges of equal work: a triangle's row a costs end − a (its ranges on whole 4-row tiles), a rectangle's rows alike
  const boundary = triangular ? triangleBoundary(rows, tasks, 4) : (t: number) => Math.round((rows * t) / tasks);
  await runRowRanges(program.module, program.memory, tasks, (t) => first + boundary(t), (_t, r0, r1) => args(r0, r1));
}

/**
 * Runs the panel factorisation on the kp×kp working matrix at `aOffset` (panels packed at `pOffset`):
 * R overwrites its upper triangle. Returns the first row whose pivot is not positive and finite, or −1.
 */
async function factorPanels(
  module: WebAssembly.Module, memory: WebAssembly.Memory, wasm: FactorExports, k: number, kp: number, aOffset: number, pOffset: number,
): Promise<number> {
  for (let j0 = 0; j0 < k; j0 += PANEL) {
    const j1 = Math.min(j0 + PANEL, k);
    // the panel PANEL_STEP rows at a time, unblocked; the panel's later rows then take those rows' update by the tiles
    for (let s0 = j0; s0 < j1; s0 += PANEL_STEP) {
      const s1 = Math.min(s0 + PANEL_STEP, j1);
      const failed = wasm.panel(s0, s1, kp, aOffset);
      if (failed >= 0) return failed;
      if (s1 === j1) break;
      wasm.pack(s0, s1, s1 - s0, kp, aOffset, pOffset);
      // rows [s1, j1) in tiles of 4 rows (those past j1 are the padding rows of the last panel: an update of zeros)
      wasm.reduce(s1, Math.ceil(j1 / 4) * 4, s1, s1 - s0, kp, aOffset, pOffset);
    }
    if (j1 === k) break;
    wasm.pack(j0, j1, PANEL, kp, aOffset, pOffset);
    await trailingUpdate({ module, memory, reduce: wasm.reduce }, { first: j1, end: kp, rank: PANEL, triangular: true },
      (aStart, aEnd) => [aStart, aEnd, j1, PANEL, kp, aOffset, pOffset]);
  }
  return -1;
}

/**
 * Upper Cholesky factor R (M = RᵀR, row-major k×k; only the upper triangle of M is read),
 * computed by WASM SIMD; undefined when a pivot is not positive or not finite (M not numerically
 * positive definite). Same contract and results (to rounding) as choleskyUpper in
 * preconditioners/dense.ts.
 */
export async function choleskyUpperWasm(M: Float64Array, k: number): Promise<Float64Array | undefined> {
  checkOrder(k, 'choleskyUpperWasm');
  if (M.length !== k * k) {
    throw new RangeError(`choleskyUpperWasm: M has ${M.length} entries, expected k*k = ${k * k} for k = ${k}`);
  }
  const kp = Math.ceil(k / 4) * 4;
  const aOffset = MATRIX_OFFSET;
  const layout = RowLayout.full(kp, 8);
  const pOffset = align64(aOffset + layout.bytes);
  const tOffset = align64(pOffset + PANEL * kp * 8);
  // from the recycling pool: a fresh memory per factorisation handed to the workers outlives it (see memory-pool.ts)
  const memory = poolMemory(tOffset + 4 * layout.table.length, `choleskyUpperWasm (k = ${k})`);
  const module = await compileFactor('float64');
  const wasm = new WebAssembly.Instance(module, { env: { mem: memory } }).exports as unknown as FactorExports;
  const buf = memory.buffer as unknown as ArrayBuffer;
  layout.install(buf, tOffset);
  const A = new Float64Array(buf, aOffset, kp * kp);
  // a recycled memory holds old data: the padding columns and rows start at 0, as in a fresh memory
  for (let i = 0; i < kp; i++) {
    if (i < k) A.set(M.subarray(i * k + i, i * k + k), i * kp + i);
    A.fill(0, i * kp + Math.max(i, k), (i + 1) * kp);
  }
  // on a throw the memory is left to the garbage collector: a terminated worker may still be writing to it
  const failed = (await factorPanels(module, memory, wasm, k, kp, aOffset, pOffset)) >= 0;
  const R = failed ? undefined : new Float64Array(k * k);
  for (let i = 0; R && i < k; i++) R.set(A.subarray(i * kp + i, i * kp + k), i * k + i);
  recycleMemory(memory);
  return R;
}

/**
 * The solve program for nc ∈ 1..columns right-hand sides at once (`solve1` … `solve<columns>`, columns ≤ SOLVE_COLUMNS), in R's precision,
 * each a column of kp entries (rows of whole vectors; padding 0) at X + c·kp·bytes, with R row-major (stride kp):
 *
 * - forward, Rᵀz = b, by columns of Rᵀ = rows of R: z_t = b_t / R[t][t], then
 *   b_i −= R[t][i]·z_t for i > t — a vector axpy along row t (scalars up to a 16-byte boundary), one load
 *   of R serving nc columns (the same order of operations as choleskySolveInPlace);
 * - backward, Rx = z, by rows of R: x_i = (z_i − Σ_{t>i} R[i][t]·x_t) / R[i][i] — a vector dot
 *   product along row i (two accumulators per column when nc ≤ 2, to overlap the add latency).
 *
 * Each pass reads the upper triangle of R once, contiguously.
 */
function solveWat(dtype: FactorDtype, columns: number): string {
  const { T, V, bytes, shift, lanes } = LANES[dtype];
  const funcs: string[] = [];
  for (let nc = 1; nc <= columns; nc++) {
    const cs = Array.from({ length: nc }, (_, c) => c);
    const sets = nc <= 2 ? 2 : 1;
    const hs = Array.from({ length: sets }, (_, h) => h);
    const col = (c: number) => `x${c}`;
    const acc = (c: number, h: number) => `acc${c}_${h}`;
    const at8 = (base: string, i: string) => add(base, `(i32.shl ${i} ${c32(shift)})`);
    const lanesSum = (v: string) => Array.from({ length: lanes }, (_, l) => `(${V}.extract_lane ${l} ${v})`)
      .reduce((s, x) => (s ? `(${T}.add ${s} ${x})` : x), '');
    funcs.push(
      `(func (export "solve${nc}") (param $R i32) (param $kp i32) (param $k i32) (param $X i32)`,
      `(local $S i32) (local $t i32) (local $i i32) (local $row i32) (local $pr i32) (local $end i32) (local $off i32) (local $d ${T}) (local $r ${T}) (local $rv v128)`,
      cs.map((c) => `(local $${col(c)} i32) (local $z${c} ${T}) (local $zv${c} v128) ${hs.map((h) => `(local $${acc(c, h)} v128)`).join(' ')}`).join(' '),
      set('S', `(i32.shl ${get('kp')} ${c32(shift)})`),
      ...cs.map((c) => set(col(c), add(get('X'), `(i32.mul ${c32(c)} ${get('S')})`))),
      // forward
      set('t', c32(0)),
      '(block $fDone (loop $fLoop',
      `(br_if $fDone (i32.ge_u ${get('t')} ${get('k')}))`,
      set('row', rowPtr(get('R'), get('t'))),
      set('end', add(get('row'), get('S'))),
      set('d', `(${T}.load ${at8(get('row'), get('t'))})`),
      ...cs.flatMap((c) => [
        set(`z${c}`, `(${T}.div (${T}.load ${at8(get(col(c)), get('t'))}) ${get('d')})`),
        `(${T}.store ${at8(get(col(c)), get('t'))} ${get(`z${c}`)})`,
        set(`zv${c}`, `(${V}.splat ${get(`z${c}`)})`),
      ]),
      set('off', `(i32.shl ${add(get('t'), c32(1))} ${c32(shift)})`),
      set('pr', add(get('row'), get('off'))),
      ...alignLoop('fa', ['pr', 'off'], get('end'), bytes, [
        set('r', `(${T}.load ${get('pr')})`),
        ...cs.map((c) => `(${T}.store ${add(get(col(c)), get('off'))} (${T}.sub (${T}.load ${add(get(col(c)), get('off'))}) (${T}.mul ${get('r')} ${get(`z${c}`)})))`),
      ]),
      '(block $aDone (loop $aLoop',
      `(br_if $aDone (i32.ge_u ${get('pr')} ${get('end')}))`,
      set('rv', `(v128.load ${get('pr')})`),
      ...cs.map((c) => `(v128.store ${add(get(col(c)), get('off'))} (${V}.sub (v128.load ${add(get(col(c)), get('off'))}) (${V}.mul ${get('rv')} ${get(`zv${c}`)})))`),
      set('pr', add(get('pr'), c32(16))),
      set('off', add(get('off'), c32(16))),
      '(br $aLoop)))',
      set('t', add(get('t'), c32(1))),
      '(br $fLoop)))',
      // backward
      set('t', get('k')),
      '(block $bDone (loop $bLoop',
      `(br_if $bDone (i32.eqz ${get('t')}))`,
      set('t', `(i32.sub ${get('t')} ${c32(1)})`),
      set('row', rowPtr(get('R'), get('t'))),
      set('end', add(get('row'), get('S'))),
      ...cs.flatMap((c) => [...hs.map((h) => set(acc(c, h), '(v128.const i64x2 0 0)')), set(`z${c}`, `(${T}.const 0)`)]),
      set('off', `(i32.shl ${add(get('t'), c32(1))} ${c32(shift)})`),
      set('pr', add(get('row'), get('off'))),
      ...alignLoop('ba', ['pr', 'off'], get('end'), bytes, [
        set('r', `(${T}.load ${get('pr')})`),
        ...cs.map((c) => set(`z${c}`, `(${T}.add ${get(`z${c}`)} (${T}.mul ${get('r')} (${T}.load ${add(get(col(c)), get('off'))})))`)),
      ]),
      ...(sets > 1
        ? [
          '(block $dDone (loop $dLoop',
          `(br_if $dDone (i32.gt_u ${add(get('pr'), c32(16 * sets))} ${get('end')}))`,
          ...hs.flatMap((h) => [
            set('rv', `(v128.load offset=${16 * h} ${get('pr')})`),
            ...cs.map((c) => set(acc(c, h), `(${V}.add ${get(acc(c, h))} (${V}.mul ${get('rv')} (v128.load offset=${16 * h} ${add(get(col(c)), get('off'))})))`)),
          ]),
          set('pr', add(get('pr'), c32(16 * sets))),
          set('off', add(get('off'), c32(16 * sets))),
          '(br $dLoop)))',
        ]
        : []),
      '(block $eDone (loop $eLoop',
      `(br_if $eDone (i32.ge_u ${get('pr')} ${get('end')}))`,
      set('rv', `(v128.load ${get('pr')})`),
      ...cs.map((c) => set(acc(c, 0), `(${V}.add ${get(acc(c, 0))} (${V}.mul ${get('rv')} (v128.load ${add(get(col(c)), get('off'))})))`)),
      set('pr', add(get('pr'), c32(16))),
      set('off', add(get('off'), c32(16))),
      '(br $eLoop)))',
      set('d', `(${T}.load ${at8(get('row'), get('t'))})`),
      ...cs.flatMap((c) => {
        const v = sets > 1 ? `(${V}.add ${get(acc(c, 0))} ${get(acc(c, 1))})` : get(acc(c, 0));
        const sum = `(${T}.add ${get(`z${c}`)} ${lanesSum(v)})`;
        const px = at8(get(col(c)), get('t'));
        return [`(${T}.store ${px} (${T}.div (${T}.sub (${T}.load ${px}) ${sum}) ${get('d')}))`];
      }),
      '(br $bLoop)))',
      ')',
    );
  }
  // one column: R's rows four at a time (solveRows4Wat), in place of the row-at-a-time solve1
  funcs.splice(0, funcs.indexOf(')') + 1, ...solveRows4Wat(dtype));
  return ['(module', '(import "env" "mem" (memory 1 65536 shared))', ...funcs, ')'].join('\n');
}

/**
 * `solve1` by four rows of R a step, for one right-hand side x (kp entries, padding 0) at X: the forward pass solves
 * the 4×4 diagonal block, then x_j −= Σ_r R[t+r][j]·z_{t+r} for j ≥ t + 4 — one load and store of x for four rows of
 * R (a row at a time loads and stores x once a row); the backward pass forms the four rows' dot products with x_j
 * (j ≥ t + 4) sharing each load of x, then solves the 4×4 block. Rows past the last whole group of four (k mod 4 of
 * them, at most 7 entries each) go one at a time by scalars. Groups start at multiples of 4 entries: every vector access
 * is 16-byte aligned (kp·bytes is a multiple of 32).
 */
function solveRows4Wat(dtype: FactorDtype): string[] {
  const { T, V, bytes, shift } = LANES[dtype];
  const rs = [0, 1, 2, 3];
  const row = (r: number) => `row${r}`;
  const ld = (addr: string) => `(${T}.load ${addr})`;
  const xAt = (i: string) => add(get('X'), `(i32.shl ${i} ${c32(shift)})`);
  const rAt = (r: number, j: string) => add(get(row(r)), `(i32.shl ${j} ${c32(shift)})`);
  const ti = (r: number) => add(get('t'), c32(r));
  const setRows = rs.map((r) => set(row(r), rowPtr(get('R'), ti(r))));
  // scalar single rows [k4, k): forward z_t = x_t / R_tt, x_j −= R_tj z_t (j > t); backward x_i = (x_i − Σ_{j>i} R_ij x_j) / R_ii
  const fTail = [
    set('t', get('k4')),
    '(block $ftDone (loop $ftLoop', `(br_if $ftDone (i32.ge_u ${get('t')} ${get('k')}))`,
    set(row(0), rowPtr(get('R'), get('t'))),
    set('z0', `(${T}.div ${ld(xAt(get('t')))} ${ld(rAt(0, get('t')))})`), `(${T}.store ${xAt(get('t'))} ${get('z0')})`,
    set('j', ti(1)),
    '(block $fjDone (loop $fjLoop', `(br_if $fjDone (i32.ge_u ${get('j')} ${get('k')}))`,
    `(${T}.store ${xAt(get('j'))} (${T}.sub ${ld(xAt(get('j')))} (${T}.mul ${ld(rAt(0, get('j')))} ${get('z0')})))`,
    set('j', add(get('j'), c32(1))), '(br $fjLoop)))',
    set('t', add(get('t'), c32(1))), '(br $ftLoop)))',
  ];
  const bTail = [
    set('t', get('k')),
    '(block $btDone (loop $btLoop', `(br_if $btDone (i32.le_u ${get('t')} ${get('k4')}))`,
    set('t', `(i32.sub ${get('t')} ${c32(1)})`),
    set(row(0), rowPtr(get('R'), get('t'))),
    set('z0', ld(xAt(get('t')))), set('j', ti(1)),
    '(block $bjDone (loop $bjLoop', `(br_if $bjDone (i32.ge_u ${get('j')} ${get('k')}))`,
    set('z0', `(${T}.sub ${get('z0')} (${T}.mul ${ld(rAt(0, get('j')))} ${ld(xAt(get('j')))}))`),
    set('j', add(get('j'), c32(1))), '(br $bjLoop)))',
    `(${T}.store ${xAt(get('t'))} (${T}.div ${get('z0')} ${ld(rAt(0, get('t')))}))`,
    '(br $btLoop)))',
  ];
  // the 4×4 diagonal block, forward: z_r = (x_{t+r} − Σ_{q<r} R[t+q][t+r] z_q) / R[t+r][t+r]
  const fBlock = rs.flatMap((r) => {
    const terms = rs.slice(0, r).reduce((acc, q) => `(${T}.sub ${acc} (${T}.mul ${ld(rAt(q, ti(r)))} ${get(`z${q}`)}))`, ld(xAt(ti(r))));
    return [set(`z${r}`, `(${T}.div ${terms} ${ld(rAt(r, ti(r)))})`), `(${T}.store ${xAt(ti(r))} ${get(`z${r}`)})`, set(`zv${r}`, `(${V}.splat ${get(`z${r}`)})`)];
  });
  // the rectangles' loops, unrolled (wat-loops.ts)
  const fStep = [
    set('px', add(get('X'), get('off'))),
    `(v128.store ${get('px')} ${rs.reduce((acc, r) => `(${V}.sub ${acc} (${V}.mul (v128.load ${add(get(row(r)), get('off'))}) ${get(`zv${r}`)}))`, `(v128.load ${get('px')})`)})`,
  ];
  const fRect = [
    set('off', `(i32.shl ${ti(4)} ${c32(shift)})`),
    ...vectorLoop('fr', 'off', get('S'), fStep),
  ];
  const bStep = [
    set('xv', `(v128.load ${add(get('X'), get('off'))})`),
    ...rs.map((r) => set(`acc${r}`, `(${V}.add ${get(`acc${r}`)} (${V}.mul (v128.load ${add(get(row(r)), get('off'))}) ${get('xv')}))`)),
  ];
  const bRect = [
    ...rs.map((r) => set(`acc${r}`, '(v128.const i64x2 0 0)')),
    set('off', `(i32.shl ${ti(4)} ${c32(shift)})`),
    ...vectorLoop('br', 'off', get('S'), bStep),
  ];
  const lanesSum = (v: string) => Array.from({ length: LANES[dtype].lanes }, (_, l) => `(${V}.extract_lane ${l} ${v})`).reduce((a, b) => `(${T}.add ${a} ${b})`);
  // the 4×4 block, backward: x_{t+r} = (x_{t+r} − s_r − Σ_{q>r} R[t+r][t+q] x_{t+q}) / R[t+r][t+r]
  const bBlock = [3, 2, 1, 0].flatMap((r) => {
    const terms = rs.slice(r + 1).reduce((acc, q) => `(${T}.sub ${acc} (${T}.mul ${ld(rAt(r, ti(q)))} ${ld(xAt(ti(q)))}))`, `(${T}.sub ${ld(xAt(ti(r)))} ${lanesSum(get(`acc${r}`))})`);
    return [`(${T}.store ${xAt(ti(r))} (${T}.div ${terms} ${ld(rAt(r, ti(r)))}))`];
  });
  return [
    `(func (export "solve1") (param $R i32) (param $kp i32) (param $k i32) (param $X i32)`,
    `(local $S i32) (local $t i32) (local $j i32) (local $k4 i32) (local $off i32) (local $px i32) (local $xv v128)`,
    rs.map((r) => `(local $${row(r)} i32) (local $z${r} ${T}) (local $zv${r} v128) (local $acc${r} v128)`).join(' '),
    set('S', `(i32.shl ${get('kp')} ${c32(shift)})`),
    set('k4', `(i32.and ${get('k')} ${c32(-4)})`),
    set('t', c32(0)),
    '(block $fDone (loop $fLoop', `(br_if $fDone (i32.ge_u ${get('t')} ${get('k4')}))`,
    ...setRows, ...fBlock, ...fRect,
    set('t', add(get('t'), c32(4))), '(br $fLoop)))',
    ...fTail, ...bTail,
    set('t', get('k4')),
    '(block $bDone (loop $bLoop', `(br_if $bDone (i32.eqz ${get('t')}))`,
    set('t', `(i32.sub ${get('t')} ${c32(4)})`),
    ...setRows, ...bRect, ...bBlock,
    '(br $bLoop)))',
    ')',
  ];
}

type SolveFn = (R: number, kp: number, k: number, X: number) => void;

const factorPrograms = {
  float64: fixedProgram(`cholesky|factor|float64|panel${PANEL}|unroll${UNROLL}|rowtable`, () => factorWat('float64')),
  float32: fixedProgram(`cholesky|factor|float32|panel${PANEL}|unroll${UNROLL}|rowtable`, () => factorWat('float32')),
};
const compileFactor = (dtype: FactorDtype) => factorPrograms[dtype]();
const solverExports = (exports: WebAssembly.Exports, columns: number) => Array.from({ length: columns }, (_, c) => exports[`solve${c + 1}`] as SolveFn);
/**
 * The solve program for up to `columns` right-hand sides per pass. One column alone (eigsh's shift-invert: every
 * application is one vector) is 1/36 of the eight-column program's code, whose assembly and compilation a fresh
 * process otherwise pays before its first factor.
 */
const solvePrograms = Object.fromEntries((['float64', 'float32'] as const).flatMap((dtype) => ([1, SOLVE_COLUMNS] as const).map((columns) =>
  [`${dtype}|${columns}`, fixedProgram(`cholesky|solve|${dtype}|cols1-${columns}|rowtable`, () => solveWat(dtype, columns))])));
const compileSolve = (dtype: FactorDtype, columns: SolveColumns) => solvePrograms[`${dtype}|${columns}`]!();

/**
 * The solve program a factor for `dtype` should take: SOLVE_COLUMNS where that program was asked for already (a caller
 * with a block to solve asks early: `CholeskySolver.compile`), else the one-column one — it widens at a first block.
 */
export function solveColumnsFor(dtype: FactorDtype): SolveColumns {
  return solvePrograms[`${dtype}|${SOLVE_COLUMNS}`]!.requested() ? SOLVE_COLUMNS : 1;
}

/** Right-hand sides per pass a solver is compiled for: 1 (single vectors only) or SOLVE_COLUMNS. */
export type SolveColumns = 1 | typeof SOLVE_COLUMNS;

/** An upper-triangular R (k×k row-major) held in a WebAssembly memory for repeated solves. */
export class CholeskySolver {
  private constructor(
    readonly k: number,
    private readonly kp: number,
    private readonly rOffset: number,
    private readonly xOffset: number,
    private readonly X: Float64Array | Float32Array,
    private solvers: readonly SolveFn[],
    private readonly memory?: WebAssembly.Memory,
    /** The precision R is held (and the solves run) in. */
    readonly dtype: FactorDtype = 'float64',
  ) {}

  /**
   * Factors M = RᵀR (k×k symmetric) and keeps R for solves in the memory it was factored in — no copy of R:
   * `writeRow(i, row)` fills row i of M's upper triangle, row[c] = M[i][i + c] for c < k − i. Returns the
   * solver, or the first row whose pivot was not positive and finite (M not numerically positive definite;
   * its memory is recycled). `absRowSums` (k entries), where given, receives Σ_j |M_ij| of the matrix as written
   * (before factoring). The memory comes from, and `release()` returns it to, src/cpu/memory-pool.ts.
   */
  static async factor(
    k: number, writeRow: (i: number, row: Float64Array | Float32Array) => void, dtype: FactorDtype = 'float64', absRowSums?: Float64Array,
    columns: SolveColumns = SOLVE_COLUMNS,
  ): Promise<CholeskySolver | { failedRow: number }> {
    checkOrder(k, 'CholeskySolver.factor');
    const { bytes } = LANES[dtype];
    const Typed = dtype === 'float64' ? Float64Array : Float32Array;
    const { end } = factorLayout(k, dtype);
    // the memory `CholeskySolver.prefault` prepared for it, if any: its pages provided on another thread
    const prefaulted = end <= MAX_BYTES ? takePrefaulted(pagesFor(end), 'factor') : undefined;
    const memory = prefaulted?.memory ?? poolMemory(end, 'CholeskySolver.factor');
    // the matrix from the memory's first huge-page boundary, where it has one (no 4 KiB-paged head to fault in)
    const aOffset = Math.max(MATRIX_OFFSET, memoryBase(memory));
    const { kp, layout, pOffset, tOffset } = factorLayout(k, dtype, aOffset);
    // this thread takes first touches of the pages the host has not reached while it waits (for the programs too)
    const written = prefaulted ? awaitPrefaulted(prefaulted) : undefined;
    // the solve program is needed only once R is: it compiles while M is written and factored
    const solveModule = compileSolve(dtype, columns);
    const factorModule = await compileFactor(dtype);
    const wasm = new WebAssembly.Instance(factorModule, { env: { mem: memory } }).exports as unknown as FactorExports;
    // the host's writes to the pages end before any of ours
    await written;
    const buf = memory.buffer as unknown as ArrayBuffer;
    layout.install(buf, tOffset);
    // a recycled memory holds old data: the padding columns (and rows) must be 0, for the solves read them
    for (let i = 0; i < kp; i++) {
      const row = new Typed(buf, aOffset + layout.offset(i, i, bytes), kp - i);
      if (i < k) writeRow(i, row.subarray(0, k - i));
      row.fill(0, i < k ? k - i : 0);
    }
    if (absRowSums) {
      // into the packed panel's area, free till the factorisation (kp·8 ≤ PANEL·kp·bytes)
      new Float64Array(buf, pOffset, kp).fill(0);
      wasm.rowsums(k, kp, aOffset, pOffset);
      absRowSums.set(new Float64Array(buf, pOffset, k));
    }
    const failedRow = await factorPanels(factorModule, memory, wasm, k, kp, aOffset, pOffset);
    if (failedRow >= 0) {
      recycleMemory(memory);
      return { failedRow };
    }
    const exports = new WebAssembly.Instance(await solveModule, { env: { mem: memory } }).exports;
    // the packed panel's area serves as the right-hand sides' (SOLVE_COLUMNS·kp ≤ PANEL·kp entries)
    return new CholeskySolver(k, kp, aOffset, pOffset, new Typed(buf, pOffset, SOLVE_COLUMNS * kp), solverExports(exports, columns), memory, dtype);
  }

  /**
   * Prepares the fresh memory a later `factor(k, …, dtype)` takes, its pages provided by the host on another thread
   * (src/cpu/memory-pool.ts `prefaultMemory`): call it before work that precedes the factorisation, such as storing
   * M's entries — for k = 1,500 in float64 ≈ 2,500 first touches, 37–41 ms of CPU on the 2-vCPU VM, taken off this
   * thread. Nothing is done where a recycled memory serves, where the host cannot, or where the user asked for one
   * thread (LAZYLINALG_THREADS=1, setCpuThreads(1)). Returns whether a memory is being prepared.
   */
  static prefault(k: number, dtype: FactorDtype = 'float64'): boolean {
    checkOrder(k, 'CholeskySolver.prefault');
    const { end } = factorLayout(k, dtype);
    return end <= MAX_BYTES && prefaultMemory(pagesFor(end), 'factor');
  }

  /**
   * The factorisation and solve programs (the latter for up to `columns` right-hand sides per pass), compiled once:
   * call early to overlap their compilation with other work.
   */
  static compile(dtype: FactorDtype = 'float64', columns: SolveColumns = SOLVE_COLUMNS): Promise<[WebAssembly.Module, WebAssembly.Module]> {
    return Promise.all([compileFactor(dtype), compileSolve(dtype, columns)]);
  }

  /** Right-hand sides one pass of `solveInPlace` takes (more are taken in several passes). */
  get columns(): number {
    return this.solvers.length;
  }

  /**
   * Takes up to SOLVE_COLUMNS right-hand sides a pass from now on (a solver factored for one column: its memory holds
   * room for them). A factor made for single vectors (one solve program 1/36 the size, whose text a fresh process
   * checks in a fraction of the time) widens so at its first block; a no-op where it is wide already.
   */
  async widen(): Promise<void> {
    if (this.solvers.length >= SOLVE_COLUMNS || !this.memory) return;
    const module = await compileSolve(this.dtype, SOLVE_COLUMNS);
    if (this.released || this.solvers.length >= SOLVE_COLUMNS) return;
    this.solvers = solverExports(new WebAssembly.Instance(module, { env: { mem: this.memory } }).exports, SOLVE_COLUMNS);
  }

  /** Hands a memory from `factor` back for recycling; the solver must not be used afterwards. */
  release(): void {
    if (this.memory && !this.released) recycleMemory(this.memory);
    this.released = true;
  }

  private released = false;

  /** Copies R (only its upper triangle is read) into a new memory and instantiates the solve program. */
  static async create(R: Float64Array, k: number): Promise<CholeskySolver> {
    checkOrder(k, 'CholeskySolver.create');
    if (R.length !== k * k) {
      throw new RangeError(`CholeskySolver.create: R has ${R.length} entries, expected k*k = ${k * k} for k = ${k}`);
    }
    const kp = k + (k & 1);
    const rOffset = MATRIX_OFFSET;
    const layout = RowLayout.full(kp, 8);
    const xOffset = align64(rOffset + layout.bytes);
    const tOffset = align64(xOffset + SOLVE_COLUMNS * kp * 8);
    const end = tOffset + 4 * layout.table.length;
    if (end > MAX_BYTES) throw new RangeError(`CholeskySolver.create (k = ${k}): needs more than 4 GiB of WASM memory`);
    // a fresh memory: it never reaches a worker, so the garbage collector frees it with the solver
    const pages = pagesFor(end);
    const memory = newWasmMemory(pages);
    const module = await compileSolve('float64', SOLVE_COLUMNS);
    const exports = new WebAssembly.Instance(module, { env: { mem: memory } }).exports;
    const buf = memory.buffer as unknown as ArrayBuffer;
    layout.install(buf, tOffset);
    const stored = new Float64Array(buf, rOffset, kp * kp);
    for (let i = 0; i < k; i++) stored.set(R.subarray(i * k + i, i * k + k), i * kp + i);
    return new CholeskySolver(k, kp, rOffset, xOffset, new Float64Array(buf, xOffset, SOLVE_COLUMNS * kp), solverExports(exports, SOLVE_COLUMNS));
  }

  /** Solves (RᵀR) X = B in place, B k×q row-major (same contract as choleskySolveInPlace), synchronously. */
  solveInPlace(B: Float64Array, q: number): Float64Array {
    const { k, kp, X } = this;
    if (this.released) throw new Error(`CholeskySolver.solveInPlace: the ${k}x${k} factor was released`);
    if (!Number.isInteger(q) || q < 1) throw new RangeError(`CholeskySolver.solveInPlace: q must be a positive integer, got ${q}`);
    if (B.length !== k * q) {
      throw new RangeError(`CholeskySolver.solveInPlace: B has ${B.length} entries, expected k*q = ${k * q} for k = ${k}, q = ${q}`);
    }
    const columns = this.solvers.length;
    for (let c0 = 0; c0 < q; c0 += columns) {
      const nc = Math.min(columns, q - c0);
      X.fill(0, 0, nc * kp); // padding entries must be 0 (they meet R's zero padding)
      if (q === 1) X.set(B);
      else for (let c = 0; c < nc; c++) for (let i = 0, o = c * kp; i < k; i++) X[o + i] = B[i * q + c0 + c]!;
      this.solvers[nc - 1]!(this.rOffset, kp, k, this.xOffset);
      if (q === 1) B.set(X.subarray(0, k));
      else for (let c = 0; c < nc; c++) for (let i = 0, o = c * kp; i < k; i++) B[i * q + c0 + c] = X[o + i]!;
    }
    return B;
  }
}
