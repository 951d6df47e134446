/**
 * Looks for a wanted eigenvalue that an eigensolver did not find although every pair it reports has converged:
 * - eigsh with less room than its default ncv: one that had not emerged when the others converged — an eigenvalue
 *   of larger magnitude at the other end for 'LM' of an indefinite operator (bench/eigen-fuzz.mjs: ncv = k + 1 or
 *   k + 2, 2 of 600 random cases returned a smaller |λ| as converged; k = 2 with ncv = 7, 6 of 300);
 * - lobpcg where a wanted Ritz value is of the size of tol: its residual test cannot tell the wanted eigenvalue from
 *   the cluster near 0 (src/krylov/lobpcg.ts `hiddenWanted`), and the Ritz vector found here continues its iteration.
 *
 * The check: a short Lanczos run (full reorthogonalisation) on the operator deflated of the k converged vectors, from
 * a seeded random start orthogonal to them. Its Ritz values lie inside the deflated operator's spectrum — A's, less
 * the k found — so one beyond the k-th wanted value proves a wanted eigenvalue was missed. That holds only while its
 * basis stays orthogonal to the found vectors too: each step projects against both together (see below). The converse is not proven:
 * a missing eigenvalue close to the k-th may stay hidden (the run is short), but nothing correct is ever refused.
 * 'SM' is not checked: its wanted values are interior, where Ritz values prove nothing (eigsh runs it through
 * (A − 0·I)⁻¹ wherever it can).
 */
import type { Which } from './eigsh.js';
import { randomVector } from './random.js';
import { tridiagonalEigen } from './tridiagonal.js';
import { dot, norm } from './util.js';

/** x ← x − Σ_c (q_c·x) q_c over `basis`, twice (classical Gram–Schmidt, repeated: full reorthogonalisation). */
export function project(x: Float64Array, basis: readonly Float64Array[]): number[] {
  const h = new Array<number>(basis.length).fill(0);
  for (let pass = 0; pass < 2; pass++) {
    basis.forEach((q, c) => {
      const a = dot(q, x);
      h[c]! += a;
      for (let i = 0; i < x.length; i++) x[i]! -= a * q[i]!;
    });
  }
  return h;
}

/** Whether `value` is more wanted than the least wanted of `found` (values of the operator Lanczos ran on). */
function beyond(value: number, found: readonly number[], which: Which, margin: number): boolean {
  const asc = [...found].sort((a, b) => a - b);
  switch (which) {
    case 'LA': return value > asc[0]! + margin;
    case 'SA': return value < asc[asc.length - 1]! - margin;
    case 'LM': return Math.abs(value) > Math.min(...found.map(Math.abs)) + margin;
    case 'BE': {
      // ARPACK's split: floor(k/2) from the low end, the rest from the high end
      const low = asc.slice(0, Math.floor(asc.length / 2));
      const high = asc.slice(low.length);
      return value > high[0]! + margin || (low.length > 0 && value < low[low.length - 1]! - margin);
    }
    case 'SM': return false;
  }
}

export interface MissedCheck {
  /** A Ritz value of the deflated operator that belongs in the wanted set, if one was seen. */
  missed?: number;
  /** Its Ritz vector (unit norm, orthogonal to the deflated vectors): a direction the solver had not found. */
  vector?: Float64Array;
  /** Products with the operator the check spent. */
  matvecs: number;
}

/**
 * Runs the check on `op` (what the solver applied: A, or (A − σI)⁻¹) given orthonormal vectors to deflate (the
 * converged ones, and any others the solver kept out) and the wanted values found, with `steps` Lanczos steps at most.
 * `margin` (absolute) is how far beyond the least wanted value found a Ritz value must lie to count: the found values'
 * own error, within which it is a tie, not a miss.
 */
export async function missedEigenvalue(
  op: (x: Float64Array) => Promise<Float64Array>, vectors: readonly Float64Array[], found: readonly number[], which: Which,
  steps: number, margin: number, rng: () => number,
): Promise<MissedCheck> {
  const n = vectors[0]!.length;
  const room = n - vectors.length;
  if (which === 'SM' || room <= 0) return { matvecs: 0 };
  // ‖A‖ as seen so far (the found values may be far below it: 'SA' of a spiked spectrum): breakdown is relative to it
  let scale = Math.max(...found.map(Math.abs));
  const q = randomVector(n, rng);
  project(q, vectors);
  const q0norm = norm(q);
  if (!(q0norm > 0)) return { matvecs: 0 };
  const basis = [q.map((v) => v / q0norm)];
  const diag: number[] = [];
  const off: number[] = [];
  let matvecs = 0;
  for (let j = 0; j < Math.min(steps, room); j++) {
    const w = Float64Array.from(await op(basis[j]!));
    matvecs++;
    scale = Math.max(scale, norm(w));
    // the deflation (what A does outside the found eigenvectors) and the reorthogonalisation, in the same two passes:
    // where the basis takes most of w (near an invariant subspace), the rounding left along the found vectors by a
    // deflation done first is what remains, and normalised it pulled Ritz values below A's spectrum (eigen-fuzz
    // eigsh seed 405, case 165: 0.0245 where λ_min = 0.0308)
    const h = project(w, [...vectors, ...basis]).slice(vectors.length);
    diag.push(h[j]!);
    const beta = norm(w);
    const { eigenvalues } = tridiagonalEigen(diag, off, { eigenvectors: false });
    const at = Array.from(eigenvalues).findIndex((t) => beyond(t, found, which, margin));
    if (at >= 0) return { missed: eigenvalues[at]!, vector: ritzVector(basis, diag, off, at), matvecs };
    // an invariant subspace (to rounding): the deflated spectrum seen in full, or what one start vector reaches of it
    if (!(beta > 64 * Number.EPSILON * scale)) break;
    off.push(beta);
    basis.push(w.map((v) => v / beta));
  }
  return { matvecs };
}

/** The Ritz vector of the tridiagonal's eigenvalue `at` (ascending order) in the Lanczos basis. */
function ritzVector(basis: readonly Float64Array[], diag: number[], off: number[], at: number): Float64Array {
  const size = diag.length;
  const Y = tridiagonalEigen(diag, off, { eigenvectors: true }).eigenvectors!;
  const v = new Float64Array(basis[0]!.length);
  for (let r = 0; r < size; r++) {
    const y = Y[r * size + at]!;
    const q = basis[r]!;
    for (let i = 0; i < v.length; i++) v[i]! += y * q[i]!;
  }
  const vn = norm(v);
  return v.map((x) => x / vn);
}
