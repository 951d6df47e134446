/**
 * Block preconditioned CG that keeps each column's coefficients (GPyTorch's mBCG, Gardner et al., NeurIPS 2018): one
 * product A·[p₁ … p_k] per iteration for all running columns, and per column the step sizes α_j and the ratios
 * β_j = ρ_{j+1}/ρ_j from which the Lanczos tridiagonal of the preconditioned operator is rebuilt (`lanczosTridiagonal`).
 * `cg` (src/krylov) is not used: its residual replacement and drift restarts, right for a solve, break the three-term
 * relation between successive residuals that the tridiagonal stands for. Products here are float64-exact or nearly
 * (the slq caller refuses nothing, but a float32 operator loses the relation after a few dozen steps: use float64).
 */
import type { LinearOperator } from '../operators/linear-operator.js';
import { applyColumns, dot, norm } from '../krylov/util.js';

export interface MbcgColumn {
  /** The approximate solution A⁻¹ b. */
  readonly x: Float64Array;
  /** M b (M = P⁻¹ applied to the right-hand side, x₀ = 0): the preconditioned probe. */
  readonly mb: Float64Array;
  /** ρ₀ = bᵀ M b. */
  readonly rho0: number;
  readonly alphas: number[];
  readonly betas: number[];
  /** Final relative residual ‖b − A x‖/‖b‖ (recursive), and the residual b − A x itself (recursive). */
  readonly relativeResidual: number;
  readonly residual: Float64Array;
  readonly converged: boolean;
  /**
   * β_m = ρ_m/ρ_{m−1} of the step after the last one taken (r_mᵀM r_m over the last ρ), from one more application of M to
   * the final residual: the coupling T_{m,m+1} = √β_m/α_{m−1} of the tridiagonal to its next row, which Gauss–Radau
   * quadrature reads (0 where the residual is 0; undefined where no step was taken).
   */
  readonly nextBeta?: number;
}

export interface MbcgOptions {
  /** The public function that runs it (`logdet`, `inverseQuadLogdet`, `gpNegativeLogMarginalLikelihood`): its errors name it. */
  readonly fn: string;
  /** Relative residual at which each column stops. */
  readonly rtol: readonly number[];
  /** Iteration cap per column (probe columns: the Lanczos steps; the data column may get more). */
  readonly maxiter: readonly number[];
  readonly M?: LinearOperator;
}

interface State {
  b: Float64Array; x: Float64Array; r: Float64Array; p: Float64Array; mb: Float64Array;
  rho: number; rho0: number; bnorm: number; rnorm: number; alphas: number[]; betas: number[]; done: boolean; maxiter: number; rtol: number;
  nextBeta?: number;
}

/** Runs the block PCG on the columns `bs` of A x = b; a breakdown (pᵀA p ≤ 0, rᵀM r ≤ 0, NaN) throws, naming `o.fn` and the column. */
export async function mbcg(A: LinearOperator, bs: readonly Float64Array[], o: MbcgOptions): Promise<MbcgColumn[]> {
  const n = A.shape[0];
  const zs = o.M ? await applyColumns(o.M, bs) : bs.map((b) => Float64Array.from(b));
  const cols: State[] = bs.map((b, j) => {
    const mb = Float64Array.from(zs[j]!);
    const rho = dot(b, mb);
    const bnorm = norm(b);
    if (bnorm > 0 && !(rho > 0)) throw new RangeError(`${o.fn}: bᵀM b = ${rho} for column ${j}: the preconditioner is not positive definite`);
    return {
      b, x: new Float64Array(n), r: Float64Array.from(b), p: Float64Array.from(mb), mb, rho, rho0: rho, bnorm, rnorm: bnorm,
      alphas: [], betas: [], done: bnorm === 0 || o.maxiter[j]! === 0, maxiter: o.maxiter[j]!, rtol: o.rtol[j]!,
    };
  });
  for (;;) {
    const running = cols.filter((c) => !c.done);
    if (running.length === 0) break;
    const qs = await applyColumns(A, running.map((c) => c.p));
    running.forEach((c, i) => step(c, qs[i]!, cols.indexOf(c), o.fn));
    const next = running.filter((c) => !c.done);
    // the columns that stopped now get M on their last residual too (in the same block): their β_m for Gauss–Radau
    const stopped = running.filter((c) => c.done);
    const mrs = o.M ? await applyColumns(o.M, [...next, ...stopped].map((c) => c.r)) : [...next, ...stopped].map((c) => c.r);
    next.forEach((c, i) => direction(c, mrs[i]!, cols.indexOf(c), o.fn));
    stopped.forEach((c, i) => {
      const rho = dot(c.r, mrs[next.length + i]!);
      c.nextBeta = c.rnorm === 0 ? 0 : rho > 0 ? rho / c.rho : undefined;
    });
  }
  return cols.map((c) => ({
    x: c.x, mb: c.mb, rho0: c.rho0, alphas: c.alphas, betas: c.betas, residual: c.r,
    relativeResidual: c.bnorm === 0 ? 0 : c.rnorm / c.bnorm, converged: c.bnorm === 0 || c.rnorm <= c.rtol * c.bnorm,
    ...(c.nextBeta === undefined ? {} : { nextBeta: c.nextBeta }),
  }));
}

function step(c: State, q: Float64Array, j: number, fn: string): void {
  const pq = dot(c.p, q);
  if (!(pq > 0)) {
    throw new RangeError(Number.isNaN(pq)
      ? `${fn}: pᵀA p is NaN in column ${j} at step ${c.alphas.length + 1} (the operator returned NaN)`
      : `${fn}: pᵀA p = ${pq} in column ${j} at step ${c.alphas.length + 1}: A is not positive definite`);
  }
  const alpha = c.rho / pq;
  const { x, r, p } = c;
  for (let t = 0; t < x.length; t++) {
    x[t]! += alpha * p[t]!;
    r[t]! -= alpha * q[t]!;
  }
  c.alphas.push(alpha);
  c.rnorm = norm(r);
  if (!Number.isFinite(c.rnorm)) throw new RangeError(`${fn}: the residual of column ${j} became ${c.rnorm} (NaN/Inf from the operator?)`);
  if (c.rnorm <= c.rtol * c.bnorm || c.alphas.length >= c.maxiter) c.done = true;
}

function direction(c: State, mr: Float64Array, j: number, fn: string): void {
  const rho = dot(c.r, mr);
  if (!(rho > 0)) throw new RangeError(`${fn}: rᵀM r = ${rho} in column ${j}: the preconditioner is not positive definite`);
  const beta = rho / c.rho;
  c.betas.push(beta);
  c.rho = rho;
  const p = c.p;
  for (let t = 0; t < p.length; t++) p[t] = mr[t]! + beta * p[t]!;
}

/**
 * The Lanczos tridiagonal T (diagonal, off-diagonal) of M^{1/2} A M^{1/2} started from M^{1/2} b/‖·‖, from CG's
 * coefficients (Saad, Iterative Methods, §6.7.3): T₀₀ = 1/α₀, T_jj = 1/α_j + β_{j−1}/α_{j−1}, T_{j,j+1} = √β_j/α_j.
 */
export function lanczosTridiagonal(alphas: readonly number[], betas: readonly number[]): { diag: Float64Array; off: Float64Array } {
  const m = alphas.length;
  const diag = new Float64Array(m);
  const off = new Float64Array(Math.max(0, m - 1));
  for (let j = 0; j < m; j++) {
    diag[j] = 1 / alphas[j]! + (j > 0 ? betas[j - 1]! / alphas[j - 1]! : 0);
    if (j < m - 1) off[j] = Math.sqrt(betas[j]!) / alphas[j]!;
  }
  return { diag, off };
}
