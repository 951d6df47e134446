/**
 * Dense factorisations of A + shift·I, the one place they are built: the Cholesky factor (WASM SIMD, factored where
 * it is stored: no copy of R, src/cpu/dense-cholesky.ts) and, for an indefinite A + shift·I, LU with partial
 * pivoting (src/cpu/dense-lu.ts). They are `solve`'s direct path (src/preconditioners/solve.ts), the exact
 * preconditioner 'cholesky', and eigsh's shift-invert operator (A − σI)⁻¹ (planned by `planShiftedInverse`).
 *
 * The entries come from the cheapest place that holds them: shifted and scaled operators are peeled to the operator
 * underneath (A = c·B + s·I), whose stored entries (`denseSource`: a KernelOperator's dense cache, evaluated by the
 * generated WASM) are copied row by row into the factor's memory; else from the structure (dense, diagonal, sums,
 * transposes, `toDense()` of their parts); else, where allowed, from n products.
 */
import { CholeskySolver, solveColumnsFor, type FactorDtype, type SolveColumns } from '../cpu/dense-cholesky.js';
import { luFactorWasm } from '../cpu/dense-lu-wasm.js';
import { DenseOperator, DiagonalOperator, IdentityOperator, ZeroOperator } from '../operators/dense.js';
import { KernelOperator } from '../operators/kernel-operator.js';
import {
  ScaledOperator, ShiftedOperator, SumOperator, TransposedOperator, type LinearOperator,
} from '../operators/linear-operator.js';
import { allFinite, firstNonFinite, formatShape, matrixToRowMajor } from '../operators/validate.js';
import { assertSymmetricOperator, Preconditioner } from './common.js';
import { tall, type Tall } from './dense.js';

/** The factorisation met a pivot ≤ 0 (or not finite): A + αI is not numerically positive definite. */
export class NotPositiveDefinite extends RangeError {
  constructor(readonly operator: string, readonly shift: number, readonly row: number) {
    super(`cholesky: ${operator} + ${shift}·I is not numerically positive definite (the factorisation met a pivot ≤ 0 at row ${row})`);
    this.name = 'NotPositiveDefinite';
  }
}

/** Where a factor's entries came from: the operator's stored dense form, `toDense()` of it or its parts, or n products. */
export type DenseEntriesSource = 'stored' | 'toDense' | 'products';

/** A symmetric n×n matrix's rows from the diagonal on, and where they came from. */
interface UpperRows {
  readonly source: DenseEntriesSource;
  /** Products with the operator spent reading them. */
  readonly matvecs: number;
  /** A = scale·(these rows) + shift·I. */
  readonly scale: number;
  readonly shift: number;
  /** Row i from column `first` ≤ i on. */
  row(i: number): { values: ArrayLike<number>; first: number };
}

/** A = scale·core + shift·I, with shifted and scaled operators peeled off. */
export function affineParts(A: LinearOperator): { core: LinearOperator; scale: number; shift: number } {
  let core = A;
  let scale = 1;
  let shift = 0;
  for (;;) {
    if (core instanceof ShiftedOperator) {
      shift += scale * core.alpha;
      core = core.base;
    } else if (core instanceof ScaledOperator && core.factor !== 0) {
      scale *= core.factor;
      core = core.base;
    } else {
      return { core, scale, shift };
    }
  }
}

/** Whether `denseRows(A, …)` reads stored entries (no evaluation, no products): a stored or storable dense form. */
export function hasStoredEntries(A: LinearOperator): boolean {
  return affineParts(A).core.denseSource() !== undefined;
}

/** A's dense row-major form from its structure (dense, diagonal, kernel entries and their algebra), or undefined. */
async function structuralDense(A: LinearOperator): Promise<Float64Array | undefined> {
  const n = A.shape[0];
  if (A instanceof ShiftedOperator || A instanceof ScaledOperator) {
    const base = await structuralDense(A.base);
    if (!base) return undefined;
    if (A instanceof ScaledOperator) for (let i = 0; i < base.length; i++) base[i]! *= A.factor;
    else for (let i = 0; i < n; i++) base[i * n + i]! += A.alpha;
    return base;
  }
  if (A instanceof SumOperator) {
    let sum: Float64Array | undefined;
    for (const part of A.parts) {
      const d = await structuralDense(part);
      if (!d) return undefined;
      if (!sum) sum = d;
      else for (let i = 0; i < d.length; i++) sum[i]! += d[i]!;
    }
    return sum;
  }
  if (A instanceof TransposedOperator) {
    const d = await structuralDense(A.original);
    if (!d) return undefined;
    const t = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = d[i * n + j]!;
    return t;
  }
  if (A.denseSource()) return fullFromRows(await storedRows(A), n);
  const cheap = A instanceof DenseOperator || A instanceof DiagonalOperator || A instanceof IdentityOperator
    || A instanceof ZeroOperator || A instanceof KernelOperator;
  return cheap ? matrixToRowMajor(await A.toDense()) : undefined;
}

async function storedRows(A: LinearOperator): Promise<UpperRows> {
  const row = await A.denseSource()!.rows();
  return { source: 'stored', matvecs: 0, scale: 1, shift: 0, row };
}

/** The full symmetric matrix (row-major, into M: every entry written) from upper rows, scale and shift applied. */
function fullFromRows(rows: UpperRows, n: number, M: Float64Array = new Float64Array(n * n)): Float64Array {
  for (let i = 0; i < n; i++) {
    const { values, first } = rows.row(i);
    for (let j = i; j < n; j++) M[i * n + j] = M[j * n + i] = rows.scale * values[j - first]!;
    M[i * n + i]! += rows.shift;
  }
  return M;
}

/**
 * A's rows (A symmetric n×n; only its upper triangle is read): stored entries of the peeled operator, else its
 * structure, else — with `allowProducts` — n products with the identity. Undefined when none applies.
 */
async function denseRows(A: LinearOperator, allowProducts: boolean): Promise<UpperRows | undefined> {
  const n = A.shape[0];
  const { core, scale, shift } = affineParts(A);
  if (core.denseSource()) return { ...(await storedRows(core)), scale, shift };
  const d = await structuralDense(A);
  if (d) return { source: 'toDense', matvecs: 0, scale: 1, shift: 0, row: (i) => ({ values: d.subarray(i * n, i * n + n), first: 0 }) };
  if (!allowProducts) return undefined;
  const D = matrixToRowMajor(await A.toDense());
  return { source: 'products', matvecs: n, scale: 1, shift: 0, row: (i) => ({ values: D.subarray(i * n, i * n + n), first: 0 }) };
}

/**
 * `denseRows`, with the factorisation's fixed costs overlapped with the store of the entries: its programs assembled
 * (on this thread) and compiled (on V8's) while V8 compiles the store's program, and its fresh memory prepared on
 * another thread (`CholeskySolver.prefault`) where the entries come from a stored dense form. Both are asked for
 * once the store has asked for its program and memory — the call to `denseRows` runs up to the store's first wait —
 * so that the store, first on the critical path, is not queued behind them (prefaults run in the order asked).
 */
async function storeThenFactorMemory(
  A: LinearOperator, allowProducts: boolean, dtype: FactorDtype, columns: SolveColumns,
): Promise<UpperRows | undefined> {
  const pending = denseRows(A, allowProducts);
  CholeskySolver.compile(dtype, columns).catch(() => undefined); // a failure shows at the factorisation
  if (hasStoredEntries(A)) CholeskySolver.prefault(A.shape[0], dtype);
  return pending;
}

/**
 * Copies row i (from the diagonal) of scale·rows + (rows.shift + shift)·I into `out`; where `unshifted` is given, also
 * A's own diagonal entry scale·rows_ii + rows.shift into unshifted[i] (read here: a second pass over the rows, after
 * the factor, ran cold in a fresh process).
 */
function rowWriter(rows: UpperRows, shift: number, unshifted?: Float64Array): (i: number, out: Float64Array | Float32Array) => void {
  const diagonal = rows.shift + shift;
  return (i, out) => {
    const { values, first } = rows.row(i);
    const from = i - first;
    const len = out.length;
    if (unshifted) unshifted[i] = rows.scale * values[from]! + rows.shift;
    if (rows.scale === 1 && ArrayBuffer.isView(values)) out.set((values as Float64Array).subarray(from, from + len));
    else for (let c = 0; c < len; c++) out[c] = rows.scale * values[from + c]!;
    out[0]! += diagonal;
  };
}

export class CholeskyFactorPreconditioner extends Preconditioner {
  /** Where the entries came from: a stored dense form of the operator, `toDense()`, or products. */
  readonly source: DenseEntriesSource;

  /** The precision the factor is held in: 'float32' approximates (A + αI)⁻¹ to about κ·ε₃₂; `solve` refines it. */
  readonly factorDtype: FactorDtype;

  constructor(n: number, shift: number, private readonly solver: CholeskySolver, source: DenseEntriesSource) {
    super(n, shift);
    this.source = source;
    this.factorDtype = solver.dtype;
  }

  protected override async applyBlock(R: Tall): Promise<Tall> {
    if (R.cols > 1) await this.solver.widen(); // a factor made for single vectors takes blocks SOLVE_COLUMNS a pass
    const out = Float64Array.from(R.data);
    this.solver.solveInPlace(out, R.cols);
    return tall(R.rows, R.cols, out);
  }

  /** Also hands the factor's memory back for recycling: applying this operator afterwards throws. */
  override async dispose(): Promise<void> {
    await super.dispose();
    this.solver.release();
  }

  protected override describe(): string {
    return `CholeskyFactorPreconditioner(${this.factorDtype === 'float64' ? 'exact' : 'float32'}, shift ${this.mu})`;
  }
}

/**
 * Factors A + shift·I (A symmetric, n×n) from A's stored entries (`denseSource`, shifts and scalings peeled), else
 * its structure, else `toDense()` (n products: for small or explicit operators). Throws NotPositiveDefinite when a
 * pivot is not positive. With dtype 'float32' the factor is computed and held in float32 (twice the SIMD lanes: about
 * half the time); where a pivot is not positive in float32, it is factored again in float64 (its `factorDtype` tells).
 */
export async function choleskyFactorPreconditioner(
  A: LinearOperator, shift: number, dtype: FactorDtype = 'float64',
): Promise<CholeskyFactorPreconditioner> {
  const n = A.shape[0];
  if (n !== A.shape[1]) throw new RangeError(`cholesky: A must be square, got shape ${formatShape(A.shape)} (${A})`);
  // the factor reads A's upper triangle: a cross kernel K(x, y) whose triangle happened to be positive definite was
  // factored as if it were symmetric (a probe is measured once per operator: solve's own check has paid for it)
  await assertSymmetricOperator(A, 'choleskyFactorPreconditioner');
  const t0 = performance.now();
  // the one-column solve program (its text is 1/36 of the eight-column one's) unless the wide one was asked for (solve
  // does where its right-hand side is a block): a narrow factor widens at its first block (`CholeskySolver.widen`)
  const columns = solveColumnsFor(dtype);
  const rows = (await storeThenFactorMemory(A, true, dtype, columns))!;
  let solver = await CholeskySolver.factor(n, rowWriter(rows, shift), dtype, undefined, columns);
  if (!(solver instanceof CholeskySolver) && dtype === 'float32') solver = await CholeskySolver.factor(n, rowWriter(rows, shift), 'float64', undefined, solveColumnsFor('float64'));
  if (!(solver instanceof CholeskySolver)) {
    // a non-finite entry fails a pivot too: said as what it is (it read "not numerically positive definite")
    const bad = nonFiniteEntry(rows, n);
    if (bad) throw new RangeError(`cholesky: ${A} has a non-finite entry (${bad.i}, ${bad.j}) = ${bad.value}, read from ${SOURCE_WORDS[rows.source]}; A's entries must be finite`);
    throw new NotPositiveDefinite(String(A), shift, solver.failedRow);
  }
  const P = new CholeskyFactorPreconditioner(n, shift, solver, rows.source);
  P.buildMs = performance.now() - t0;
  return P;
}

/** y = (A + shift·I)⁻¹ b by a dense factor, exact to rounding. */
export interface DenseShiftedFactor {
  readonly kind: 'cholesky' | 'lu';
  /** The Cholesky factor is of −(A + shift·I), negative definite (its solves negated). */
  readonly negated?: boolean;
  readonly source: DenseEntriesSource;
  /** ‖A + shift·I‖_∞ (≥ its 2-norm). */
  readonly normBound: number;
  /** ‖A‖_∞ without the shift (to rounding of ε·|shift|): the scale A's own eigenvalues live on. */
  readonly scaleBound: number;
  /** Products with A spent reading its entries. */
  readonly matvecs: number;
  /** A fresh y (b untouched). */
  solve(b: Float64Array): Float64Array;
  /** Hands the factor's memory back; `solve` throws afterwards. */
  release(): void;
}

/** Whether every diagonal entry of A + shift·I (A's rows as read) is negative: only then can it be negative definite. */
function negativeDiagonal(rows: UpperRows, n: number, shift: number): boolean {
  for (let i = 0; i < n; i++) {
    const { values, first } = rows.row(i);
    if (!(rows.scale * values[i - first]! + rows.shift + shift < 0)) return false;
  }
  return n > 0;
}

/** Where the entries of a factor came from, in an error's words. */
const SOURCE_WORDS: Record<DenseEntriesSource, string> = { stored: 'its stored entries', toDense: 'its toDense()', products: 'its products' };

/** The first entry of `rows` (upper triangle as read) that is not finite, or undefined: scanned only where a factor failed. */
function nonFiniteEntry(rows: UpperRows, n: number): { i: number; j: number; value: number } | undefined {
  for (let i = 0; i < n; i++) {
    const { values, first } = rows.row(i);
    const t = firstNonFinite(values);
    if (t >= 0) return { i, j: first + t, value: values[t]! };
  }
  return undefined;
}

/**
 * Factors A + shift·I (A symmetric, n×n): Cholesky where it is positive definite, Cholesky of its negation where that
 * is, else LU with partial pivoting.
 * Undefined where A has no dense form to read (see `denseRows`); `{ singular }` (why) where a pivot of LU is exactly 0.
 */
export async function factorShifted(
  A: LinearOperator, shift: number, options: { allowProducts: boolean; fn?: string },
): Promise<DenseShiftedFactor | { singular: string } | undefined> {
  const n = A.shape[0];
  // `solve` takes one vector: the one-column program
  const rows = await storeThenFactorMemory(A, options.allowProducts, 'float64', 1);
  if (!rows) return undefined;
  const absRowSums = new Float64Array(n);
  const diagonal = new Float64Array(n);
  const solver = await CholeskySolver.factor(n, rowWriter(rows, shift, diagonal), 'float64', absRowSums, 1);
  // a non-finite entry fails the factor or zeroes an LU pivot: said as what it is (it read "σ is an eigenvalue of A")
  const bad = allFinite(absRowSums) ? undefined : nonFiniteEntry(rows, n);
  if (bad) {
    if (solver instanceof CholeskySolver) solver.release();
    throw new RangeError(`${options.fn ?? 'factorShifted'}: ${A} has a non-finite entry (${bad.i}, ${bad.j}) = ${bad.value}, read from ${SOURCE_WORDS[rows.source]}; A's entries must be finite`);
  }
  const normBound = absRowSums.reduce((m, v) => Math.max(m, v), 0);
  // row i of A alone: the shifted row's sum with |A_ii + shift| traded for |A_ii|
  let scaleBound = 0;
  for (let i = 0; i < n; i++) {
    const d = diagonal[i]!;
    scaleBound = Math.max(scaleBound, absRowSums[i]! - Math.abs(d + shift) + Math.abs(d));
  }
  const common = { source: rows.source, normBound, scaleBound, matvecs: rows.matvecs };
  if (solver instanceof CholeskySolver) {
    return { ...common, kind: 'cholesky', solve: (b) => solver.solveInPlace(Float64Array.from(b), 1), release: () => solver.release() };
  }
  // negative definite (σ above A's spectrum, a negated kernel): −(A + shift·I) by the WASM Cholesky, where every
  // diagonal entry is negative — it went to the JavaScript LU (n = 1,500: 1.5 s where scipy's LU takes 0.07 s)
  if (negativeDiagonal(rows, n, shift)) {
    const negated = await CholeskySolver.factor(n, rowWriter({ ...rows, scale: -rows.scale, shift: -rows.shift }, -shift), 'float64', undefined, 1);
    if (negated instanceof CholeskySolver) {
      const solve = (b: Float64Array) => {
        const y = negated.solveInPlace(Float64Array.from(b), 1);
        for (let i = 0; i < y.length; i++) y[i] = -y[i]!;
        return y;
      };
      return { ...common, kind: 'cholesky', negated: true, solve, release: () => negated.release() };
    }
  }
  // indefinite: LU with partial pivoting, its trailing updates and solves in WASM (dense-lu-wasm.ts)
  const out = await luFactorWasm(n, (lu) => fullFromRows({ ...rows, shift: rows.shift + shift }, n, lu));
  if ('singularColumn' in out) return { singular: `the LU factor's pivot ${out.singularColumn} is exactly zero` };
  const { factors } = out;
  return { ...common, kind: 'lu', solve: (b) => factors.solve(b), release: () => factors.release() };
}
