/**
 * (A + αI)⁻¹ applied exactly (to rounding) by a dense Cholesky factor held in WebAssembly memory
 * (src/cpu/dense-cholesky.ts, factored where it is stored: no copy of R). It is `solve`'s direct path for
 * problems small enough to factor (see src/preconditioners/solve.ts) and, as the preconditioner choice
 * 'cholesky', the exact preconditioner.
 */
import { CholeskySolver } from '../cpu/dense-cholesky.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { formatShape } from '../operators/validate.js';
import { Preconditioner } from './common.js';
import { tall, type Tall } from './dense.js';

/** The factorisation met a pivot ≤ 0 (or not finite): A + αI is not numerically positive definite. */
export class NotPositiveDefinite extends RangeError {
  constructor(readonly operator: string, readonly shift: number, readonly row: number) {
    super(`cholesky: ${operator} + ${shift}·I is not numerically positive definite (the factorisation met a pivot ≤ 0 at row ${row})`);
    this.name = 'NotPositiveDefinite';
  }
}

export class CholeskyFactorPreconditioner extends Preconditioner {
  /** Where the entries came from: a stored dense form of the operator, or `toDense()`. */
  readonly source: 'stored' | 'toDense';

  constructor(n: number, shift: number, private readonly solver: CholeskySolver, source: 'stored' | 'toDense') {
    super(n, shift);
    this.source = source;
  }

  protected override async applyBlock(R: Tall): Promise<Tall> {
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
    return `CholeskyFactorPreconditioner(exact, shift ${this.mu})`;
  }
}

/**
 * Factors A + shift·I (A symmetric, n×n) from A's stored entries (`denseSource`), else from `toDense()` (n products:
 * for small or explicit operators). Throws NotPositiveDefinite when a pivot is not positive.
 */
export async function choleskyFactorPreconditioner(A: LinearOperator, shift: number): Promise<CholeskyFactorPreconditioner> {
  const n = A.shape[0];
  if (n !== A.shape[1]) throw new RangeError(`cholesky: A must be square, got shape ${formatShape(A.shape)} (${A})`);
  const t0 = performance.now();
  const source = A.denseSource();
  let row: (i: number) => { values: ArrayLike<number>; first: number };
  if (source) row = await source.rows();
  else {
    const D = await A.toDense();
    row = (i) => ({ values: D.getRow(i), first: 0 });
  }
  const solver = await CholeskySolver.factor(n, (i, out) => {
    const { values, first } = row(i);
    const from = i - first;
    if (ArrayBuffer.isView(values)) out.set((values as Float64Array).subarray(from, from + n - i));
    else for (let c = 0; c < n - i; c++) out[c] = values[from + c]!;
    out[0]! += shift;
  });
  if (!(solver instanceof CholeskySolver)) throw new NotPositiveDefinite(String(A), shift, solver.failedRow);
  const P = new CholeskyFactorPreconditioner(n, shift, solver, source ? 'stored' : 'toDense');
  P.buildMs = performance.now() - t0;
  return P;
}
