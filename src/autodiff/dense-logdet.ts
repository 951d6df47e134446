/**
 * The exact route of `logdet`, `inverseQuadLogdet` and the GP likelihood (policy.ts chooses it): A's n×n entries read
 * once (`toDense`), their symmetry checked entry by entry (the factorisation reads one triangle), A = RᵀR by the WASM
 * Cholesky, then
 *   log det A = 2 Σᵢ log Rᵢᵢ,   u = A⁻¹y,   tr(A⁻¹D) = Σᵢⱼ (A⁻¹)ᵢⱼ Dᵢⱼ (A⁻¹ symmetric),   uᵀD u,
 * exact up to rounding — no probes, no error bars. y enters as 2⁻ᵉ·y (`powerOfTwoScale`: its largest entry in [½, 1)), an
 * exact scaling undone on the results, so that u, yᵀu and uᵀD u overflow only where they do themselves.
 */
import { choleskyUpperWasm, CholeskySolver } from '../cpu/dense-cholesky.js';
import { denseAsymmetry, symmetryTolerance } from '../krylov/symmetry.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { timesPow2 } from '../operators/kernel-operator.js';
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
  const e = y ? powerOfTwoScale(y) : 0;
  try {
    // û = A⁻¹(2⁻ᵉy): u = 2ᵉû, yᵀu and uᵀD u 4ᵉ times theirs
    const yHat = y ? Float64Array.from(y, (v) => timesPow2(v, -e)) : undefined;
    const u = yHat ? solver.solveInPlace(Float64Array.from(yHat), 1).slice() : undefined;
    let inverseQuad: number | undefined;
    if (yHat && u) {
      let q = 0;
      for (let i = 0; i < n; i++) q += yHat[i]! * u[i]!;
      inverseQuad = unscaledQuad(q, e, fn, 'yᵀA⁻¹y');
    }
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
      quads.push(u ? unscaledQuad(q, e, fn, 'a quadratic term uᵀD u') : q);
    }
    if (!y || !u) return { logdet, traces, quads };
    return { logdet, solve: unscaledSolve(u, e, fn), inverseQuad: inverseQuad!, traces, quads };
  } finally {
    solver.release();
  }
}

/** e with 2⁻ᵉ·max|yᵢ| in [½, 1) (0 for y = 0): the exact scaling under which the data column is solved. */
export function powerOfTwoScale(y: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < y.length; i++) m = Math.max(m, Math.abs(y[i]!));
  return m > 0 && Number.isFinite(m) ? Math.floor(Math.log2(m)) + 1 : 0;
}

/** u = 2ᵉû, refused where it overflows: A⁻¹y is then not a float64 vector. */
export function unscaledSolve(uHat: Float64Array, e: number, fn: string): Float64Array {
  const u = e === 0 ? uHat : uHat.map((v) => timesPow2(v, e));
  const i = u.findIndex((v) => !Number.isFinite(v));
  if (i >= 0) throw new RangeError(`${fn}: A⁻¹y overflows float64 (entry ${i}: ${uHat[i]} × 2^${e}); scale y (e.g. standardise it)`);
  return u;
}

/** q = 4ᵉ·q̂ for a quadratic form in u, refused where it overflows float64. */
export function unscaledQuad(qHat: number, e: number, fn: string, what: string): number {
  const q = timesPow2(timesPow2(qHat, e), e);
  if (!Number.isFinite(q)) throw new RangeError(`${fn}: ${what} = ${qHat} × 2^${2 * e} overflows float64; scale y (e.g. standardise it)`);
  return q;
}
