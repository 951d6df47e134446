/**
 * Is A symmetric? eigsh (Lanczos) answers wrongly, without a sign, on a non-symmetric operator, so it asks first:
 * from the structure where that is cheap and certain (a declared flag; a dense matrix's entries; scaled, shifted,
 * transposed and summed operators of those), else by a seeded probe: for a block U of random columns, UᵀAU must be
 * symmetric — one product of a few columns, compared within the rounding the operator's dtype allows.
 */
import { DenseOperator } from '../operators/dense.js';
import {
  ScaledOperator, ShiftedOperator, SumOperator, TransposedOperator, type LinearOperator,
} from '../operators/linear-operator.js';
import { mulberry32, randomVector } from './random.js';
import { applyColumns, dot, dtypeEps, norm } from './util.js';

export type Symmetry = { readonly kind: 'symmetric' | 'unknown' } | { readonly kind: 'asymmetric'; readonly why: string };

/** Relative asymmetry tolerated, in units of the dtype's epsilon (rounding of products or of stored entries). */
export const SYMMETRY_TOLERANCE_EPS = 100;

/** Columns of the probe block (3 give 3 independent comparisons for one 3-column product). */
const PROBE_COLUMNS = 3;

/** The largest |a_ij − a_ji| of a dense n×n matrix (`at(i, j)`) against the tolerance; the worst pair when over it. */
export function denseAsymmetry(at: (i: number, j: number) => number, n: number, eps: number): string | undefined {
  let maxAbs = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) maxAbs = Math.max(maxAbs, Math.abs(at(i, j)));
  let worst = 0;
  let wi = 0;
  let wj = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = Math.abs(at(i, j) - at(j, i));
      if (d > worst) [worst, wi, wj] = [d, i, j];
    }
  }
  if (worst <= SYMMETRY_TOLERANCE_EPS * eps * maxAbs) return undefined;
  return `entry (${wi}, ${wj}) = ${at(wi, wj)} differs from (${wj}, ${wi}) = ${at(wj, wi)}`;
}

/** What the structure of A says about its symmetry (no product spent). */
export function structuralSymmetry(A: LinearOperator): Symmetry {
  if (A.symmetric) return { kind: 'symmetric' };
  if (A instanceof DenseOperator) {
    const why = denseAsymmetry((i, j) => A.get(i, j), A.shape[0], dtypeEps(A.dtype));
    return why ? { kind: 'asymmetric', why: `${A}: ${why}` } : { kind: 'symmetric' };
  }
  if (A instanceof ScaledOperator) return A.factor === 0 ? { kind: 'symmetric' } : structuralSymmetry(A.base);
  if (A instanceof ShiftedOperator) return structuralSymmetry(A.base);
  if (A instanceof TransposedOperator) return structuralSymmetry(A.original);
  if (A instanceof SumOperator) {
    // one asymmetric part among symmetric ones makes the sum asymmetric; two may cancel (B + Bᵀ)
    const parts = A.parts.map(structuralSymmetry);
    const odd = parts.filter((p) => p.kind === 'asymmetric');
    if (parts.every((p) => p.kind === 'symmetric')) return { kind: 'symmetric' };
    if (odd.length === 1 && parts.every((p) => p.kind !== 'unknown')) return odd[0]!;
  }
  return { kind: 'unknown' };
}

/**
 * The probe: U (n×3, seeded), W = A·U, G = UᵀW; asymmetric when some |G_ij − G_ji| exceeds
 * SYMMETRY_TOLERANCE_EPS·eps·(‖W_i‖‖U_j‖ + ‖W_j‖‖U_i‖). The rounding of a product lands in a direction
 * independent of U, so its share of G_ij is about eps·‖W_i‖‖U_j‖ whatever n; a relative asymmetry δ = ‖A − Aᵀ‖/‖A‖
 * shows as about δ/√n of the same scale.
 */
export async function probeSymmetry(A: LinearOperator, n: number, seed: number): Promise<Symmetry> {
  const rng = mulberry32(seed ^ 0x5eed);
  const U = Array.from({ length: PROBE_COLUMNS }, () => randomVector(n, rng));
  const W = await applyColumns(A, U);
  const eps = dtypeEps(A.dtype);
  for (let i = 0; i < PROBE_COLUMNS; i++) {
    for (let j = i + 1; j < PROBE_COLUMNS; j++) {
      const gij = dot(U[i]!, W[j]!);
      const gji = dot(U[j]!, W[i]!);
      const scale = norm(W[i]!) * norm(U[j]!) + norm(W[j]!) * norm(U[i]!);
      if (!(Math.abs(gij - gji) <= SYMMETRY_TOLERANCE_EPS * eps * scale)) {
        const rel = Math.abs(gij - gji) / scale;
        return { kind: 'asymmetric', why: `${A}: the probe ⟨u, A w⟩ = ${gij.toPrecision(6)} but ⟨A u, w⟩ = ${gji.toPrecision(6)} (relative difference ${rel.toExponential(1)}, tolerance ${(SYMMETRY_TOLERANCE_EPS * eps).toExponential(1)})` };
      }
    }
  }
  return { kind: 'symmetric' };
}

/** Throws unless A is symmetric: by its structure, else by the probe. */
export async function requireSymmetric(fn: string, A: LinearOperator, n: number, seed: number): Promise<void> {
  let s = structuralSymmetry(A);
  if (s.kind === 'unknown') s = await probeSymmetry(A, n, seed);
  if (s.kind === 'asymmetric') throw asymmetricError(fn, s.why);
}

export function asymmetricError(fn: string, why: string): RangeError {
  return new RangeError(
    `${fn}: A is not symmetric (${why}); eigsh needs a symmetric operator. If A is symmetric and this is rounding, pass { symmetric: true }`,
  );
}
