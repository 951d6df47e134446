/**
 * Is A symmetric? The one check that eigsh and `solve` (src/preconditioners/solve.ts) both ask: from the structure
 * where that is cheap and certain (a declared flag; a dense matrix's entries; scaled, shifted, transposed and summed
 * operators of those), else by a seeded probe: for a block U of random columns, UᵀAU must be symmetric — one product
 * of a few columns, measured once per operator and seed. Each caller states the relative asymmetry it tolerates:
 * eigsh the rounding of products (`symmetryTolerance`), CG — whose answer is verified by true residuals — more.
 */
import { DenseOperator } from '../operators/dense.js';
import {
  ProductOperator, ScaledOperator, ShiftedOperator, SumOperator, TransposedOperator, type LinearOperator,
} from '../operators/linear-operator.js';
import { mulberry32, randomVector } from './random.js';
import { applyColumns, dot, dtypeEps, norm } from './util.js';

export type Symmetry = { readonly kind: 'symmetric' | 'unknown' } | { readonly kind: 'asymmetric'; readonly why: string };

/** Relative asymmetry tolerated by default, in units of the dtype's epsilon (rounding of products or of stored entries). */
export const SYMMETRY_TOLERANCE_EPS = 100;

/** Columns of the probe block (3 give 3 independent comparisons for one 3-column product). */
const PROBE_COLUMNS = 3;

/**
 * The relative asymmetry beyond which the solvers and preconditioners that assume a symmetric A refuse it (√ε of the
 * dtype: far above the products' rounding; their answers are verified by true residuals, so rounding must pass).
 */
export const SOLVER_ASYMMETRY_LIMIT = { float64: 2 ** -26, float32: 2 ** -12 } as const;

/** The default relative tolerance for an operator of this dtype: SYMMETRY_TOLERANCE_EPS·ε. */
export function symmetryTolerance(dtype: 'float32' | 'float64'): number {
  return SYMMETRY_TOLERANCE_EPS * dtypeEps(dtype);
}

/** The pair (i, j), i < j, of largest |a_ij − a_ji| of a dense n×n matrix (`at(i, j)`) where it exceeds tolerance·max|a|. */
export function worstAsymmetricPair(
  at: (i: number, j: number) => number, n: number, tolerance: number,
): { i: number; j: number; aij: number; aji: number } | undefined {
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
  return worst <= tolerance * maxAbs ? undefined : { i: wi, j: wj, aij: at(wi, wj), aji: at(wj, wi) };
}

/** `worstAsymmetricPair` in words, for messages; undefined where the matrix is symmetric within `tolerance`. */
export function denseAsymmetry(at: (i: number, j: number) => number, n: number, tolerance: number): string | undefined {
  const w = worstAsymmetricPair(at, n, tolerance);
  return w && `entry (${w.i}, ${w.j}) = ${w.aij} differs from (${w.j}, ${w.i}) = ${w.aji}`;
}

/** What the structure of A says about its symmetry (no product spent); dense entries compared within `tolerance`. */
export function structuralSymmetry(A: LinearOperator, tolerance = symmetryTolerance(A.dtype)): Symmetry {
  if (A.symmetric) return { kind: 'symmetric' };
  if (A instanceof DenseOperator) {
    const why = denseAsymmetry((i, j) => A.get(i, j), A.shape[0], tolerance);
    return why ? { kind: 'asymmetric', why: `${A}: ${why}` } : { kind: 'symmetric' };
  }
  if (A instanceof ScaledOperator) return A.factor === 0 ? { kind: 'symmetric' } : structuralSymmetry(A.base, tolerance);
  if (A instanceof ShiftedOperator) return structuralSymmetry(A.base, tolerance);
  if (A instanceof TransposedOperator) return structuralSymmetry(A.original, tolerance);
  if (A instanceof SumOperator) {
    // one asymmetric part among symmetric ones makes the sum asymmetric; two may cancel (B + Bᵀ)
    const parts = A.parts.map((p) => structuralSymmetry(p, tolerance));
    const odd = parts.filter((p) => p.kind === 'asymmetric');
    if (parts.every((p) => p.kind === 'symmetric')) return { kind: 'symmetric' };
    if (odd.length === 1 && parts.every((p) => p.kind !== 'unknown')) return odd[0]!;
  }
  if (A instanceof ProductOperator) {
    // a palindrome of symmetric factors (the same object mirrored: D·K·D, spectral clustering's normalised kernel)
    // is its own transpose: (F₁⋯F_m)ᵀ = F_mᵀ⋯F₁ᵀ = F_m⋯F₁ = F₁⋯F_m
    const f = A.parts;
    if (f.every((op, i) => op === f[f.length - 1 - i]) && f.every((op) => structuralSymmetry(op, tolerance).kind === 'symmetric')) {
      return { kind: 'symmetric' };
    }
  }
  return { kind: 'unknown' };
}

/** The probe's worst pair: G_ij = ⟨u_i, A u_j⟩ against G_ji, and their difference relative to the products' scale. */
export interface ProbeMeasure {
  readonly relative: number;
  readonly gij: number;
  readonly gji: number;
}

const probes = new WeakMap<LinearOperator, Map<number, Promise<ProbeMeasure>>>();

/**
 * The probe, once per (operator, seed): U (n×3, seeded), W = A·U, G = UᵀW; the largest
 * |G_ij − G_ji| / (‖W_i‖‖U_j‖ + ‖W_j‖‖U_i‖). The rounding of a product lands in a direction independent of U, so its
 * share of G_ij is about ε·‖W_i‖‖U_j‖ whatever n; a relative asymmetry δ = ‖A − Aᵀ‖/‖A‖ shows as about δ/√n.
 */
export function measureAsymmetry(A: LinearOperator, seed = 0): Promise<ProbeMeasure> {
  let bySeed = probes.get(A);
  if (!bySeed) probes.set(A, (bySeed = new Map()));
  let p = bySeed.get(seed);
  if (!p) {
    p = probe(A, seed);
    bySeed.set(seed, p);
    p.catch(() => bySeed.delete(seed));
  }
  return p;
}

async function probe(A: LinearOperator, seed: number): Promise<ProbeMeasure> {
  const rng = mulberry32(seed ^ 0x5eed);
  const U = Array.from({ length: PROBE_COLUMNS }, () => randomVector(A.shape[0], rng));
  const W = await applyColumns(A, U);
  let worst: ProbeMeasure = { relative: 0, gij: 0, gji: 0 };
  for (let i = 0; i < PROBE_COLUMNS; i++) {
    for (let j = i + 1; j < PROBE_COLUMNS; j++) {
      const gij = dot(U[i]!, W[j]!);
      const gji = dot(U[j]!, W[i]!);
      const scale = norm(W[i]!) * norm(U[j]!) + norm(W[j]!) * norm(U[i]!);
      const gap = Math.abs(gij - gji);
      // NaN (a product that overflowed) counts as asymmetric
      const relative = scale > 0 ? gap / scale : gap > 0 || Number.isNaN(gap) ? Infinity : 0;
      if (!(relative <= worst.relative)) worst = { relative: Number.isNaN(relative) ? Infinity : relative, gij, gji };
    }
  }
  return worst;
}

/** The probe's verdict at `tolerance` (relative; default `symmetryTolerance(A.dtype)`). */
export async function probeSymmetry(A: LinearOperator, seed = 0, tolerance = symmetryTolerance(A.dtype)): Promise<Symmetry> {
  const m = await measureAsymmetry(A, seed);
  if (m.relative <= tolerance) return { kind: 'symmetric' };
  return {
    kind: 'asymmetric',
    why: `${A}: the probe ⟨u, A w⟩ = ${m.gij.toPrecision(6)} but ⟨A u, w⟩ = ${m.gji.toPrecision(6)} (relative difference ${m.relative.toExponential(1)}, tolerance ${tolerance.toExponential(1)})`,
  };
}

/** By the structure, else by the probe: 'symmetric' or 'asymmetric' (with the reason). */
export async function checkSymmetry(A: LinearOperator, options: { seed?: number; tolerance?: number } = {}): Promise<Symmetry> {
  const tolerance = options.tolerance ?? symmetryTolerance(A.dtype);
  const s = structuralSymmetry(A, tolerance);
  return s.kind === 'unknown' ? probeSymmetry(A, options.seed, tolerance) : s;
}

/**
 * The refusal every routine that assumes a symmetric A shares (solve, the log-determinants, lobpcg, the
 * preconditioners): A decided by its structure, else by one probe, within SOLVER_ASYMMETRY_LIMIT; a RangeError
 * `${fn}: ${name} is not symmetric (why); ${need}` where it is not.
 */
export async function requireSymmetric(A: LinearOperator, fn: string, need: string, name = String(A)): Promise<void> {
  const s = await checkSymmetry(A, { tolerance: SOLVER_ASYMMETRY_LIMIT[A.dtype] });
  if (s.kind === 'asymmetric') throw new RangeError(`${fn}: ${name} is not symmetric (${s.why}); ${need}`);
}

export function asymmetricError(fn: string, why: string): RangeError {
  return new RangeError(
    `${fn}: A is not symmetric (${why}); eigsh needs a symmetric operator. If A is symmetric and this is rounding, pass { symmetric: true }`,
  );
}
