/**
 * Dense LU with partial pivoting in WebAssembly: the factor of eigsh's symmetric indefinite shift-invert systems
 * (A − σI, σ inside the spectrum), where the WASM Cholesky refuses. The algorithm of `luFactor` (dense-lu.ts, the
 * plain-JS oracle the tests compare with) reordered, in blocks of BLOCK columns made of panels of PANEL columns: each
 * panel is factored column by column (pivot search, full-row swap, its own rank-1 updates; O(n·PANEL) a panel, on the
 * calling thread in JavaScript), and the block's later columns take its rank-PANEL update in SIMD; once the block is
 * factored, its rows of U right of it are formed and the trailing matrix takes one rank-BLOCK update, tile by tile of
 * TILE columns, so that a row's tile stays in cache through the block's PANEL-column chunks. Every entry takes the
 * same operations in the same order as in `luFactor` — the same pivots and factors bit for bit. Why blocks: with one
 * rank-PANEL pass over the trailing matrix a panel, the factor was memory-bound — n = 1,500 took 240–260 ms (one
 * pass per column in plain JS: 1.5 s; scipy's LAPACK LU on both cores: 54 ms).
 *
 * Memory: the n×n matrix row-major in a WebAssembly memory from the recycled ones (memory-pool.ts), the solve's
 * vector after it.
 */
import { trailingUpdate } from './dense-cholesky.js';
import { fixedProgram } from './programs.js';
import { unrolledLoop, vectorLoop } from './wat-loops.js';
import { acquireMemory, recycleMemory } from './memory-pool.js';
import { pivotColumn, type LuOutcome } from './dense-lu.js';

/** Columns a panel: an update's rank per pass (eight multipliers in registers, as the Cholesky's tiles). */
export const PANEL = 8;

/** Columns a block: the trailing update's rank (its PANEL-column chunks applied to one tile after another). */
export const BLOCK = 64;

/** Columns a tile of the row-by-row update: a row's tile (2 KiB) stays in L1 while the chunks pass over it. */
export const TILE = 256;

/** Rows and columns of an update's register tile: 8 accumulators, 2 rows of U and a multiplier of 16 SIMD registers. */
export const ROWS = 4;
export const COLS = 4;

const get = (name: string) => `(local.get $${name})`;
const set = (name: string, value: string) => `(local.set $${name} ${value})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const c32 = (v: number) => `(i32.const ${v})`;
const qs = Array.from({ length: PANEL }, (_, q) => q);

/** A row of the n×n matrix at $A (row-major float64): its byte address. */
const luRow = (r: string) => add(get('A'), `(i32.shl (i32.mul ${r} ${get('n')}) ${c32(3)})`);

/** `update`: the trailing update of a block of columns, with its own row pivots (see `luWat`). */
function luUpdateWat(): string[] {
  const lane = (q: number) => `l${q}`;
  const uPtr = (q: number) => `u${q}`;
  const row = luRow;
  // chunk q0's multiplier q: A[i][k0 + q0 + q] where q0 + q < kb, else 0
  const multiplier = (q: number) => `(if (result f64) (i32.lt_u (i32.add ${get('q0')} ${c32(q)}) ${get('kb')}) (then (f64.load ${add(get('p'), `(i32.shl (i32.add ${get('k0')} (i32.add ${get('q0')} ${c32(q)})) ${c32(3)})`)})) (else (f64.const 0)))`;
  /** Rows [$rr, $rEnd) on the byte columns [$cs, $end), one row at a time (labels suffixed `tag`). */
  const rowByRow = (tag: string) => [
    `(block $iDone${tag} (loop $iLoop${tag}`, `(br_if $iDone${tag} (i32.ge_u ${get('rr')} ${get('rEnd')}))`,
    set('p', row(get('rr'))),
    // tiles of the row: [t, tEnd) in bytes, TILE columns each (an even count: every pair of a tile is a pair of the row)
    set('t', get('cs')),
    `(block $tDone${tag} (loop $tLoop${tag}`, `(br_if $tDone${tag} (i32.ge_u ${get('t')} ${get('end')}))`,
    set('tEnd', `(select ${get('end')} (i32.add ${get('t')} ${c32(TILE * 8)}) (i32.lt_u (i32.sub ${get('end')} ${get('t')}) ${c32(TILE * 8)}))`),
    set('q0', c32(0)),
    `(block $qDone${tag} (loop $qLoop${tag}`, `(br_if $qDone${tag} (i32.ge_u ${get('q0')} ${get('kb')}))`,
    // the rows of U the chunk's multipliers take: row k0 + q0 + q, or row k0 + q0 for an absent one (multiplier 0)
    ...qs.map((q) => set(uPtr(q), row(`(i32.add ${get('k0')} (select (i32.add ${get('q0')} ${c32(q)}) ${get('q0')} (i32.lt_u (i32.add ${get('q0')} ${c32(q)}) ${get('kb')})))`))),
    ...qs.flatMap((q) => [set(`s${q}`, multiplier(q)), set(lane(q), `(f64x2.splat ${get(`s${q}`)})`)]),
    set('j', get('t')),
    ...vectorLoop(`j${tag}`, 'j', get('tEnd'), [
      set('v', `(v128.load ${add(get('p'), get('j'))})`),
      ...qs.map((q) => set('v', `(f64x2.sub ${get('v')} (f64x2.mul ${get(lane(q))} (v128.load ${add(get(uPtr(q)), get('j'))})))`)),
      `(v128.store ${add(get('p'), get('j'))} ${get('v')})`,
    ]),
    // an odd last column (of the last tile)
    `(if (i32.lt_u ${get('j')} ${get('tEnd')}) (then`,
    set('s', `(f64.load ${add(get('p'), get('j'))})`),
    ...qs.map((q) => set('s', `(f64.sub ${get('s')} (f64.mul ${get(`s${q}`)} (f64.load ${add(get(uPtr(q)), get('j'))})))`)),
    `(f64.store ${add(get('p'), get('j'))} ${get('s')})))`,
    set('q0', add(get('q0'), c32(PANEL))), `(br $qLoop${tag})))`,
    set('t', get('tEnd')), `(br $tLoop${tag})))`,
    set('rr', add(get('rr'), c32(1))), `(br $iLoop${tag})))`,
  ];
  const rs = Array.from({ length: ROWS }, (_, r) => r);
  const cs = Array.from({ length: COLS / 2 }, (_, c) => c);
  const acc = (r: number, c: number) => `a${r}_${c}`;
  const rowPtr = (r: number) => `p${r}`;
  const update = [
    // exported as `reduce`: the worker pool runs row ranges of a module's `reduce` (pool-worker.cjs, runRowRanges)
    '(func (export "reduce") (param $A i32) (param $n i32) (param $k0 i32) (param $kb i32) (param $r0 i32) (param $r1 i32) (param $c0 i32) (param $c1 i32)',
    '(local $p i32) (local $j i32) (local $end i32) (local $v v128) (local $s f64) (local $t i32) (local $tEnd i32) (local $q0 i32)',
    '(local $rr i32) (local $rEnd i32) (local $cs i32) (local $q i32) (local $lOff i32) (local $uRow i32) (local $rowBytes i32) (local $l v128)',
    qs.map((q) => `(local $${lane(q)} v128) (local $s${q} f64) (local $${uPtr(q)} i32)`).join(' '),
    rs.map((r) => `(local $${rowPtr(r)} i32) ${cs.map((c) => `(local $${acc(r, c)} v128)`).join(' ')}`).join(' '),
    cs.map((c) => `(local $u${c}x v128)`).join(' '),
    set('end', `(i32.shl ${get('c1')} ${c32(3)})`),
    set('rowBytes', `(i32.shl ${get('n')} ${c32(3)})`),
    set('rr', get('r0')),
    // groups of ROWS rows
    '(block $gDone (loop $gLoop', `(br_if $gDone (i32.gt_u (i32.add ${get('rr')} ${c32(ROWS)}) ${get('r1')}))`,
    set(rowPtr(0), row(get('rr'))),
    ...rs.slice(1).map((r) => set(rowPtr(r), add(get(rowPtr(r - 1)), get('rowBytes')))),
    set('j', `(i32.shl ${get('c0')} ${c32(3)})`),
    '(block $cDone (loop $cLoop', `(br_if $cDone (i32.gt_u (i32.add ${get('j')} ${c32(COLS * 8)}) ${get('end')}))`,
    ...rs.flatMap((r) => cs.map((c) => set(acc(r, c), `(v128.load ${add(get(rowPtr(r)), add(get('j'), c32(16 * c)))})`))),
    set('q', c32(0)),
    set('lOff', `(i32.shl ${get('k0')} ${c32(3)})`),
    set('uRow', add(row(get('k0')), get('j'))),
    ...unrolledLoop('k', `(i32.ge_u ${get('q')} ${get('kb')})`, [
      ...cs.map((c) => set(`u${c}x`, `(v128.load ${add(get('uRow'), c32(16 * c))})`)),
      ...rs.flatMap((r) => [
        set('l', `(v128.load64_splat ${add(get(rowPtr(r)), get('lOff'))})`),
        ...cs.map((c) => set(acc(r, c), `(f64x2.sub ${get(acc(r, c))} (f64x2.mul ${get('l')} ${get(`u${c}x`)}))`)),
      ]),
      set('q', add(get('q'), c32(1))),
      set('lOff', add(get('lOff'), c32(8))),
      set('uRow', add(get('uRow'), get('rowBytes'))),
    ], 2),
    ...rs.flatMap((r) => cs.map((c) => `(v128.store ${add(get(rowPtr(r)), add(get('j'), c32(16 * c)))} ${get(acc(r, c))})`)),
    set('j', add(get('j'), c32(COLS * 8))), '(br $cLoop)))',
    // the group's columns left over (fewer than COLS), row by row
    set('cs', get('j')),
    set('rEnd', add(get('rr'), c32(ROWS))),
    ...rowByRow('g'),
    '(br $gLoop)))',
    // the rows left over (fewer than ROWS), row by row on all the columns
    set('cs', `(i32.shl ${get('c0')} ${c32(3)})`),
    set('rEnd', get('r1')),
    ...rowByRow('r'),
    ')',
  ];
  return update;
}

/** `solve`: x ← U⁻¹L⁻¹x, a dot product along a row each step (see `luWat`). */
function luSolveWat(): string[] {
  const row = luRow;
  // Σ_{j in [from, to)} A_row[j]·x[j] into $acc (two lanes, then the scalar tail)
  const dot = (from: string, to: string) => [
    set('va', '(v128.const i64x2 0 0)'),
    set('j', `(i32.shl ${from} ${c32(3)})`),
    set('end', `(i32.shl ${to} ${c32(3)})`),
    ...vectorLoop('d', 'j', get('end'), [set('va', `(f64x2.add ${get('va')} (f64x2.mul (v128.load ${add(get('p'), get('j'))}) (v128.load ${add(get('x'), get('j'))})))`)]),
    set('acc', `(f64.add (f64x2.extract_lane 0 ${get('va')}) (f64x2.extract_lane 1 ${get('va')}))`),
    `(if (i32.lt_u ${get('j')} ${get('end')}) (then ${set('acc', `(f64.add ${get('acc')} (f64.mul (f64.load ${add(get('p'), get('j'))}) (f64.load ${add(get('x'), get('j'))})))`)}))`,
  ];
  const xAt = (i: string) => add(get('x'), `(i32.shl ${i} ${c32(3)})`);
  const solve = [
    '(func (export "solve") (param $A i32) (param $n i32) (param $x i32)',
    '(local $i i32) (local $p i32) (local $j i32) (local $end i32) (local $va v128) (local $acc f64)',
    // L z = x (unit lower): z_i = x_i − Σ_{j<i} L_ij z_j
    set('i', c32(1)),
    '(block $fDone (loop $fLoop', `(br_if $fDone (i32.ge_u ${get('i')} ${get('n')}))`,
    set('p', row(get('i'))), ...dot(c32(0), get('i')),
    `(f64.store ${xAt(get('i'))} (f64.sub (f64.load ${xAt(get('i'))}) ${get('acc')}))`,
    set('i', add(get('i'), c32(1))), '(br $fLoop)))',
    // U x = z: x_i = (z_i − Σ_{j>i} U_ij x_j) / U_ii
    set('i', get('n')),
    '(block $bDone (loop $bLoop', `(br_if $bDone (i32.eqz ${get('i')}))`,
    set('i', `(i32.sub ${get('i')} ${c32(1)})`),
    set('p', row(get('i'))), ...dot(add(get('i'), c32(1)), get('n')),
    `(f64.store ${xAt(get('i'))} (f64.div (f64.sub (f64.load ${xAt(get('i'))}) ${get('acc')}) (f64.load ${add(get('p'), `(i32.shl ${get('i')} ${c32(3)})`)})))`,
    '(br $bLoop)))',
    ')',
  ];
  return solve;
}

/**
 * `reduce(A, n, k0, kb, r0, r1, c0, c1)` (the update): for rows i in [r0, r1), A[i][c0..c1) −= Σ_{q<kb} A[i][k0+q]·A[k0+q][c0..c1),
 * each entry taking its terms one after another in order of q (a − l₀u₀ − l₁u₁ − …, as `luFactor`). Groups of
 * ROWS rows by COLS columns keep their entries in registers through all kb terms (one load and one store an entry,
 * ROWS + COLS/2 loads a term for 2·ROWS·COLS flops); the rows and columns left over go one row at a time, by tiles of
 * TILE columns and chunks of PANEL terms (absent multipliers of the last chunk are 0 against row k0 + its first,
 * whose entries are finite). `solve(A, n, x)`: x ← U⁻¹L⁻¹x, L unit lower and U upper stored together in A, each step
 * a dot product along a row.
 */
function luWat(): string {
  return ['(module', '(import "env" "mem" (memory 1 65536 shared))', ...luUpdateWat(), ...luSolveWat(), ')'].join('\n');
}

const luProgram = fixedProgram(`lu|panel${PANEL}|block${BLOCK}|tile${TILE}|regs${ROWS}x${COLS}|update-solve`, luWat);

interface LuExports {
  reduce(A: number, n: number, k0: number, kb: number, r0: number, r1: number, c0: number, c1: number): void;
  solve(A: number, n: number, x: number): void;
}

/** Byte offset of A in its memory (address 0 unused). */
const A_OFFSET = 64;

/** The factors in a WebAssembly memory, and their solves there; `release()` hands the memory back. */
export interface WasmLuFactors {
  readonly n: number;
  /** P·M = L·U: row i of the factors is row perm[i] of M. */
  readonly perm: Int32Array;
  /** L (unit, below) and U (on and above the diagonal), row-major: a view of the memory. */
  readonly lu: Float64Array;
  solve(b: Float64Array): Float64Array;
  release(): void;
}

/**
 * Factors the row-major n×n M (`fill(lu)` writes it into the memory's view), as `luFactor` does: the first column
 * whose largest candidate pivot is not positive and finite where M is singular (the memory then recycled).
 */
export async function luFactorWasm(
  n: number, fill: (lu: Float64Array) => void,
): Promise<{ factors: WasmLuFactors } | Extract<LuOutcome, { singularColumn: number }>> {
  const module = await luProgram();
  // after the compile: a failed one leaves no memory taken from the recycled ones
  const memory = acquireMemory(Math.ceil((A_OFFSET + n * n * 8 + n * 8) / 65536));
  const wasm = new WebAssembly.Instance(module, { env: { mem: memory } }).exports as unknown as LuExports;
  const buf = memory.buffer as unknown as ArrayBuffer;
  const a = new Float64Array(buf, A_OFFSET, n * n);
  fill(a);
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  const swap = new Float64Array(n);
  // the panel's rows of U on columns [c0, c1): each row by the L entries of the panel's rows above it
  const panelRowsOfU = (k0: number, kb: number, c0: number, c1: number) => {
    for (let q = 1; q < kb; q++) wasm.reduce(A_OFFSET, n, k0, q, k0 + q, k0 + q + 1, c0, c1);
  };
  for (let b0 = 0; b0 < n; b0 += BLOCK) {
    const blockEnd = Math.min(b0 + BLOCK, n);
    for (let k0 = b0; k0 < blockEnd; k0 += PANEL) {
      const kb = Math.min(PANEL, blockEnd - k0);
      const panelEnd = k0 + kb;
      for (let c = k0; c < panelEnd; c++) {
        if (!pivotColumn(a, n, c, perm, swap)) {
          recycleMemory(memory);
          return { singularColumn: c };
        }
        // the column below the pivot → L, and the rank-1 update of the panel's later columns
        const pivotRow = c * n;
        const inv = 1 / a[pivotRow + c]!;
        for (let i = c + 1; i < n; i++) panelRow(a, i * n, pivotRow, c, panelEnd, inv);
      }
      // the block's later columns: the panel's rows of U there, then the rows below by all of them
      if (panelEnd < blockEnd) {
        panelRowsOfU(k0, kb, panelEnd, blockEnd);
        wasm.reduce(A_OFFSET, n, k0, kb, panelEnd, n, panelEnd, blockEnd);
      }
    }
    if (blockEnd === n) break;
    // the block's rows of U right of it, panel by panel: by the earlier panels' rows, then within the panel
    for (let k0 = b0; k0 < blockEnd; k0 += PANEL) {
      const kb = Math.min(PANEL, blockEnd - k0);
      if (k0 > b0) wasm.reduce(A_OFFSET, n, b0, k0 - b0, k0, k0 + kb, blockEnd, n);
      panelRowsOfU(k0, kb, blockEnd, n);
    }
    // the trailing matrix by the whole block (its rows are independent: the pool may split them)
    const kb = blockEnd - b0;
    await trailingUpdate({ module, memory, reduce: wasm.reduce }, { first: blockEnd, end: n, rank: kb, triangular: false },
      (r0, r1) => [A_OFFSET, n, b0, kb, r0, r1, blockEnd, n]);
  }
  const xOffset = A_OFFSET + n * n * 8;
  const x = new Float64Array(buf, xOffset, n);
  let released = false;
  return {
    factors: {
      n, perm, lu: a,
      solve: (b) => {
        if (released) throw new Error(`the ${n}x${n} LU factor was released`);
        if (b.length !== n) throw new RangeError(`luSolve: b has length ${b.length}, expected ${n}`);
        for (let i = 0; i < n; i++) x[i] = b[perm[i]!]!;
        wasm.solve(A_OFFSET, n, xOffset);
        return x.slice();
      },
      release: () => {
        if (released) return;
        released = true;
        recycleMemory(memory);
      },
    },
  };
}

/** Row `row` of the panel: its multiplier l = a[row + c]·inv stored, and a[row + j] −= l·a[pivotRow + j] for c < j < end. */
function panelRow(a: Float64Array, row: number, pivotRow: number, c: number, end: number, inv: number): void {
  const l = a[row + c]! * inv;
  a[row + c] = l;
  if (l === 0) return;
  for (let j = c + 1; j < end; j++) a[row + j]! -= l * a[pivotRow + j]!;
}
