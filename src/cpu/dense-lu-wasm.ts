/**
 * Dense LU with partial pivoting in WebAssembly: the factor of eigsh's symmetric indefinite shift-invert systems
 * (A − σI, σ inside the spectrum), where the WASM Cholesky refuses. Right-looking by panels of PANEL columns, the
 * algorithm of `luFactor` (dense-lu.ts, the plain-JS oracle the tests compare with) reordered: each panel is factored
 * column by column (pivot search, full-row swap, its own rank-1 updates; O(n·PANEL) a panel, on the calling thread in
 * JavaScript), its rows of U to the right are formed, and the trailing matrix takes one rank-PANEL update in SIMD —
 * one pass over each trailing row per panel instead of one per column, which made the plain-JS factor memory-bound:
 * n = 1,500 took 1.5 s there (scipy's LAPACK LU: 0.07–0.1 s).
 *
 * Memory: the n×n matrix row-major in a WebAssembly memory from the recycled ones (memory-pool.ts), the solve's
 * vector after it.
 */
import { MIN_MADDS_FOR_POOL } from './dense-cholesky.js';
import { fixedProgram } from './programs.js';
import { acquireMemory, recycleMemory } from './memory-pool.js';
import { poolTasks, timeSoloWork } from './pool.js';
import { runRowRanges } from './reduce.js';
import { pivotColumn, type LuOutcome } from './dense-lu.js';

/** Columns a panel: the trailing update's rank (eight multipliers in registers, as the Cholesky's tiles). */
export const PANEL = 8;

const get = (name: string) => `(local.get $${name})`;
const set = (name: string, value: string) => `(local.set $${name} ${value})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const c32 = (v: number) => `(i32.const ${v})`;
const qs = Array.from({ length: PANEL }, (_, q) => q);

/**
 * `reduce(A, n, k0, kb, r0, r1, c0)` (the update): for rows i in [r0, r1), A[i][c0..n) −= Σ_{q<kb} A[i][k0+q]·A[k0+q][c0..n)
 * (kb ≤ PANEL; absent multipliers are 0 against row k0, whose entries are finite). `solve(A, n, x)`: x ← U⁻¹L⁻¹x,
 * L unit lower and U upper stored together in A, each step a dot product along a row.
 */
function luWat(): string {
  const lane = (q: number) => `l${q}`;
  const uPtr = (q: number) => `u${q}`;
  const row = (r: string) => add(get('A'), `(i32.shl (i32.mul ${r} ${get('n')}) ${c32(3)})`);
  const multiplier = (q: number) => `(if (result f64) (i32.lt_u ${c32(q)} ${get('kb')}) (then (f64.load ${add(get('p'), `(i32.shl (i32.add ${get('k0')} ${c32(q)}) ${c32(3)})`)})) (else (f64.const 0)))`;
  const update = [
    // exported as `reduce`: the worker pool runs row ranges of a module's `reduce` (pool-worker.cjs, runRowRanges)
    '(func (export "reduce") (param $A i32) (param $n i32) (param $k0 i32) (param $kb i32) (param $r0 i32) (param $r1 i32) (param $c0 i32)',
    '(local $i i32) (local $p i32) (local $j i32) (local $end i32) (local $v v128) (local $s f64)',
    qs.map((q) => `(local $${lane(q)} v128) (local $s${q} f64) (local $${uPtr(q)} i32)`).join(' '),
    // the rows of U the multipliers take: row k0 + q, or row k0 for an absent one (its multiplier is 0)
    ...qs.map((q) => set(uPtr(q), row(`(select (i32.add ${get('k0')} ${c32(q)}) ${get('k0')} (i32.lt_u ${c32(q)} ${get('kb')}))`))),
    set('end', `(i32.shl ${get('n')} ${c32(3)})`),
    set('i', get('r0')),
    '(block $iDone (loop $iLoop', `(br_if $iDone (i32.ge_u ${get('i')} ${get('r1')}))`,
    set('p', row(get('i'))),
    ...qs.flatMap((q) => [set(`s${q}`, multiplier(q)), set(lane(q), `(f64x2.splat ${get(`s${q}`)})`)]),
    set('j', `(i32.shl ${get('c0')} ${c32(3)})`),
    '(block $jDone (loop $jLoop', `(br_if $jDone (i32.gt_u (i32.add ${get('j')} ${c32(16)}) ${get('end')}))`,
    set('v', `(v128.load ${add(get('p'), get('j'))})`),
    ...qs.map((q) => set('v', `(f64x2.sub ${get('v')} (f64x2.mul ${get(lane(q))} (v128.load ${add(get(uPtr(q)), get('j'))})))`)),
    `(v128.store ${add(get('p'), get('j'))} ${get('v')})`,
    set('j', add(get('j'), c32(16))), '(br $jLoop)))',
    // an odd last column
    `(if (i32.lt_u ${get('j')} ${get('end')}) (then`,
    set('s', `(f64.load ${add(get('p'), get('j'))})`),
    ...qs.map((q) => set('s', `(f64.sub ${get('s')} (f64.mul ${get(`s${q}`)} (f64.load ${add(get(uPtr(q)), get('j'))})))`)),
    `(f64.store ${add(get('p'), get('j'))} ${get('s')})))`,
    set('i', add(get('i'), c32(1))), '(br $iLoop)))',
    ')',
  ];
  // Σ_{j in [from, to)} A_row[j]·x[j] into $acc (two lanes, then the scalar tail)
  const dot = (from: string, to: string) => [
    set('va', '(v128.const i64x2 0 0)'),
    set('j', `(i32.shl ${from} ${c32(3)})`),
    set('end', `(i32.shl ${to} ${c32(3)})`),
    '(block $dDone (loop $dLoop', `(br_if $dDone (i32.gt_u (i32.add ${get('j')} ${c32(16)}) ${get('end')}))`,
    set('va', `(f64x2.add ${get('va')} (f64x2.mul (v128.load ${add(get('p'), get('j'))}) (v128.load ${add(get('x'), get('j'))})))`),
    set('j', add(get('j'), c32(16))), '(br $dLoop)))',
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
  return ['(module', '(import "env" "mem" (memory 1 65536 shared))', ...update, ...solve, ')'].join('\n');
}

const luProgram = fixedProgram(`lu|panel${PANEL}|update-solve`, luWat);

interface LuExports {
  reduce(A: number, n: number, k0: number, kb: number, r0: number, r1: number, c0: number): void;
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
  for (let k0 = 0; k0 < n; k0 += PANEL) {
    const kb = Math.min(PANEL, n - k0);
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
    // the panel's rows of U right of it (each row by the L entries of the rows above it in the panel), then the
    // trailing matrix by all of them
    if (panelEnd < n) {
      for (let q = 1; q < kb; q++) wasm.reduce(A_OFFSET, n, k0, q, k0 + q, k0 + q + 1, panelEnd);
      // the trailing rows are independent: split over the pool where its workers run (it starts once the calling
      // thread's share of such work adds up: poolTasks), as the Cholesky's trailing updates, from the same threshold
      const rows = n - panelEnd;
      const madds = rows * rows * kb;
      const tasks = madds >= MIN_MADDS_FOR_POOL ? Math.max(1, Math.min(poolTasks(false), Math.floor(rows / 4))) : 1;
      if (tasks === 1) {
        timeSoloWork(() => wasm.reduce(A_OFFSET, n, k0, kb, panelEnd, n, panelEnd), madds >= MIN_MADDS_FOR_POOL);
      } else {
        await runRowRanges(module, memory, tasks, (t) => panelEnd + Math.round((rows * t) / tasks),
          (_t, r0, r1) => [A_OFFSET, n, k0, kb, r0, r1, panelEnd]);
      }
    }
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
