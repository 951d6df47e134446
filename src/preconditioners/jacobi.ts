/** Jacobi (diagonal) preconditioner: P⁻¹ = (diag(A) + shift·I)⁻¹, from `A.diagonal()`. */
import type { Tall } from './dense.js';
import { tall } from './dense.js';
import { checkArgument, nonNegativeNumber } from '../operators/options.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { Preconditioner, rademacher, squareOperator, type OperatorLike } from './common.js';

export class JacobiPreconditioner extends Preconditioner {
  /** 1 / (A_ii + shift). */
  readonly inverseDiagonal: Float64Array;

  constructor(inverseDiagonal: Float64Array, shift: number) {
    super(inverseDiagonal.length, shift);
    this.inverseDiagonal = inverseDiagonal;
  }

  protected override async applyBlock(R: Tall): Promise<Tall> {
    const k = R.cols;
    const out = new Float64Array(R.data.length);
    for (let i = 0; i < R.rows; i++) {
      const w = this.inverseDiagonal[i]!;
      for (let c = 0; c < k; c++) out[i * k + c] = w * R.data[i * k + c]!;
    }
    return tall(R.rows, k, out);
  }

  /** log det P = Σ log(A_ii + shift). */
  override logdet(): number {
    let s = 0;
    for (let i = 0; i < this.inverseDiagonal.length; i++) s -= Math.log(this.inverseDiagonal[i]!);
    return s;
  }

  /** tr(P⁻¹D) = Σ D_ii/(A_ii + shift), from D's diagonal (no products). */
  override async traceInverseProduct(D?: LinearOperator): Promise<number | undefined> {
    const w = this.inverseDiagonal;
    const d = D === undefined ? undefined : await D.diagonal().catch(() => undefined);
    if (D !== undefined && d === undefined) return undefined;
    let t = 0;
    for (let i = 0; i < w.length; i++) t += w[i]! * (d ? d[i]! : 1);
    return t;
  }

  /** z = P^{1/2} ε, ε Rademacher. */
  override sampleProbes(k: number, rng: () => number): Tall {
    const z = rademacher(this.inverseDiagonal.length, k, rng);
    for (let i = 0; i < z.rows; i++) {
      const s = 1 / Math.sqrt(this.inverseDiagonal[i]!);
      for (let c = 0; c < k; c++) z.data[i * k + c]! *= s;
    }
    return z;
  }

  override async diagonal(): Promise<Float64Array> {
    return Float64Array.from(this.inverseDiagonal);
  }

  protected override describe(): string {
    return `JacobiPreconditioner(shift=${this.mu})`;
  }
}

/**
 * (diag(A) + shift·I)⁻¹. Needs `A.diagonal()` (kernels know it exactly). Every diag(A)_i + shift
 * must be positive: A is assumed positive semidefinite, so a negative entry is an error. shift ≥ 0: the plain
 * Jacobi preconditioner diag(A)⁻¹ of an SPD A (shift 0) is the common case outside kernel systems.
 */
export async function jacobiPreconditioner(A: OperatorLike, shift: number): Promise<JacobiPreconditioner> {
  const fn = 'jacobiPreconditioner';
  const op = squareOperator(A, fn);
  const mu = checkArgument(fn, 'shift', shift, nonNegativeNumber);
  const t0 = performance.now();
  const d = await op.diagonal();
  const inv = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = d[i]! + mu;
    if (!(v > 0) || !Number.isFinite(v)) {
      throw new RangeError(`${fn}: diag(A)[${i}] + shift = ${d[i]} + ${mu} = ${v} is not a positive finite number (A must be positive semidefinite)`);
    }
    inv[i] = 1 / v;
  }
  const P = new JacobiPreconditioner(inv, mu);
  P.buildMs = performance.now() - t0;
  return P;
}
