/**
 * Sums over long vectors that every solver takes — dot products, norms, true residual norms — beside Block and the
 * Lanczos basis (basis.ts), the solvers' other vector arithmetic whose storage and loops are the CPU backend's business.
 * Between VECTOR_SUMS_MIN and VECTOR_SUMS_MAX entries the sums come from a small fixed program (cpu/vector-sums.ts), with
 * the plain loops' bits; elsewhere (and where the host cannot compile it now) from the loops below.
 */
import { dotInProgram, residualInProgram } from '../cpu/vector-sums.js';

export function dot(x: Float64Array, y: Float64Array): number {
  const summed = dotInProgram(x, y); // the same bits (vector-sums.ts)
  if (summed !== undefined) return summed;
  let s = 0;
  const n = x.length;
  for (let i = 0; i < n; i++) s += x[i]! * y[i]!;
  return s;
}

export function norm(x: Float64Array): number {
  // Scaled to avoid overflow/underflow only when the plain sum is out of range.
  const summed = dotInProgram(x, x); // the plain loop's bits (vector-sums.ts)
  let s = summed ?? 0;
  const n = x.length;
  if (summed === undefined) for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
  if (s > 1e-280 && s < 1e280) return Math.sqrt(s);
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(x[i]!));
  if (scale === 0 || !Number.isFinite(scale)) return scale === 0 ? 0 : Math.sqrt(s);
  let t = 0;
  for (let i = 0; i < n; i++) t += (x[i]! / scale) ** 2;
  return scale * Math.sqrt(t);
}

/** ‖a − λx‖ (the norm of a.map((v, i) => v − λ·x_i), its bits), without the difference's array where the program sums it. */
export function residualNorm(a: Float64Array, lambda: number, x: Float64Array): number {
  const s = residualInProgram(a, lambda, x);
  if (s !== undefined && s > 1e-280 && s < 1e280) return Math.sqrt(s);
  return norm(a.map((v, i) => v - lambda * x[i]!));
}
