/**
 * The exact route of `logdet`, `inverseQuadLogdet` and the GP likelihood (policy.ts chooses it): A's n×n entries read
 * once (`toDense`), their symmetry checked entry by entry (the factorisation reads one triangle), A = RᵀR by the WASM
 * Cholesky, then
 *   log det A = 2 Σᵢ log Rᵢᵢ,   u = A⁻¹y,   tr(A⁻¹D) = Σᵢⱼ (A⁻¹)ᵢⱼ Dᵢⱼ (A⁻¹ symmetric),   uᵀD u,
 * exact up to rounding — no probes, no error bars.
 */
import { choleskyUpperWasm, CholeskySolver } from '../cpu/dense-cholesky.js';
import { denseAsymmetry, symmetryTolerance } from '../krylov/symmetry.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { firstNonFinite } from '../operators/validate.js';

export interface DenseLogdetTerms {
  logdet: number;
  /** u = A⁻¹y and yᵀu, where y was given. */
  solve?: Float64Array;
  inverseQuad?: number;
  /** Per derivative D_k: tr(A⁻¹D_k) and uᵀD_k u (uᵀD_k u only where y was given, else 0). */
  traces: number[];
  quads: number[];
}

/** How the errors name A: `name` where it is not symmetric, `definite` (with a hint) where it is not positive definite. */
export interface DenseLogdetNames {
  name?: string;
  definite?: string;
}

export async function denseLogdetTerms(
  A: LinearOperator, y: Float64Array | undefined, derivatives: readonly LinearOperator[], fn: string, names: DenseLogdetNames = {},
): Promise<DenseLogdetTerms> {
  const n = A.shape[0];
  const Ad = await A.toDense();
  const M = new Float64Array(n * n);
  for (let i = 0; i < n; i++) M.set(Ad.getRow(i), i * n);
  // a product's NaN is not an asymmetry (NaN ≠ NaN): said as what it is
  const bad = firstNonFinite(M);
  if (bad >= 0) throw new RangeError(`${fn}: ${names.name ?? String(A)} has a non-finite entry (${(bad / n) | 0}, ${bad % n}) = ${M[bad]} (its products returned it)`);
  const why = denseAsymmetry((i, j) => M[i * n + j]!, n, symmetryTolerance(A.dtype));
  if (why) throw new RangeError(`${fn}: ${names.name ?? String(A)} is not symmetric (${why}); a log-determinant needs a symmetric positive definite A`);
  const R = await choleskyUpperWasm(M, n);
  if (!R) throw new RangeError(`${fn}: ${names.definite ?? `${A} is not positive definite`} (its Cholesky factorisation met a pivot ≤ 0)`);
  let logdet = 0;
  for (let i = 0; i < n; i++) logdet += 2 * Math.log(R[i * n + i]!);
  if (y === undefined && derivatives.length === 0) return { logdet, traces: [], quads: [] };
  const solver = await CholeskySolver.create(R, n);
  try {
    const u = y ? solver.solveInPlace(Float64Array.from(y), 1).slice() : undefined;
    let Ainv: Float64Array | undefined;
    if (derivatives.length > 0) {
      Ainv = new Float64Array(n * n);
      for (let i = 0; i < n; i++) Ainv[i * n + i] = 1;
      solver.solveInPlace(Ainv, n);
    }
    const traces: number[] = [];
    const quads: number[] = [];
    for (const D of derivatives) {
      const Dd = await D.toDense();
      let tr = 0;
      let q = 0;
      for (let i = 0; i < n; i++) {
        const row = Dd.getRow(i);
        let du = 0;
        for (let j = 0; j < n; j++) {
          tr += Ainv![i * n + j]! * row[j]!;
          if (u) du += row[j]! * u[j]!;
        }
        if (u) q += u[i]! * du;
      }
      traces.push(tr);
      quads.push(q);
    }
    if (!y || !u) return { logdet, traces, quads };
    let inverseQuad = 0;
    for (let i = 0; i < n; i++) inverseQuad += y[i]! * u[i]!;
    return { logdet, solve: u, inverseQuad, traces, quads };
  } finally {
    solver.release();
  }
}
