/** Finite-difference helpers for the gradient tests. */
import { Matrix } from 'ml-matrix';
import { mulberry32 } from '../random-data.js';

export type Theta = Record<string, number>;

/**
 * The derivative of f at 0 by the five-point central difference (f(−2h) − 8f(−h) + 8f(h) − f(2h)) / 12h: error
 * O(h⁴) for truncation, so h can stay large (1e-3) where the rounding of solves to rtol 1e-12 in f would swamp a
 * two-point quotient with h small enough for 1e-6. α takes h = 1e-4: (K + αI)⁻¹'s derivatives grow as k!/α^(k+1).
 */
export async function directional(f: (h: number) => Promise<number>, h: number): Promise<number> {
  const [m2, m1, p1, p2] = [await f(-2 * h), await f(-h), await f(h), await f(2 * h)];
  return (m2 - 8 * m1 + 8 * p1 - p2) / (12 * h);
}

/** Σ a ∘ b over vectors or matrices. */
export function dotAll(a: ArrayLike<number> | Matrix, b: ArrayLike<number> | Matrix): number {
  const A = a instanceof Matrix ? a.to1DArray() : Array.from(a);
  const B = b instanceof Matrix ? b.to1DArray() : Array.from(b);
  if (A.length !== B.length) throw new Error(`dotAll: ${A.length} vs ${B.length} entries`);
  return A.reduce((s, t, k) => s + t * B[k]!, 0);
}

/** |a − b| / |b| for numbers; max|a − b| / max|b| for vectors. */
export function relativeError(a: number | ArrayLike<number> | Matrix, b: number | ArrayLike<number> | Matrix): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
  const flat = (v: ArrayLike<number> | Matrix | number) => (v instanceof Matrix ? v.to1DArray() : Array.from(v as ArrayLike<number>));
  const A = flat(a);
  const B = flat(b);
  const scale = Math.max(...B.map(Math.abs), 1e-300);
  return Math.max(...A.map((t, k) => Math.abs(t - B[k]!))) / scale;
}

/** Random directions for a gradient check: u (n-vector), U (n×d), and the points moved by h·U. */
export function gradientCase(points: number[][], _theta: Theta, seed: number) {
  const r = mulberry32(seed);
  const n = points.length;
  const d = points[0]!.length;
  const u = Float64Array.from({ length: n }, () => 2 * r() - 1);
  const U = new Matrix(n, d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) U.set(i, k, 2 * r() - 1);
  const moved = (h: number) => points.map((p, i) => p.map((t, k) => t + h * U.get(i, k)));
  return { u, U, moved };
}

/** The Gaussian kernel of σ over `points` and its σ-derivative ∂K/∂σ = K ∘ r²/σ³, densely in float64. */
export function gaussianDenseWithSigmaDerivative(points: readonly (readonly number[])[], sigma: number): { K: Matrix; dK: Matrix } {
  const n = points.length;
  const K = new Matrix(n, n);
  const dK = new Matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let r2 = 0;
      for (let t = 0; t < points[i]!.length; t++) r2 += (points[i]![t]! - points[j]![t]!) ** 2;
      const k = Math.exp(-r2 / (2 * sigma * sigma));
      K.set(i, j, k);
      dK.set(i, j, (k * r2) / sigma ** 3);
    }
  }
  return { K, dK };
}
