/**
 * Which route the GP likelihood takes, as `solve`'s 'auto' picks Cholesky or CG: below GP_DENSE_MAX_N rows a dense
 * float64 Cholesky factorisation (exact value and gradient, O(n³), the n×n matrix and its inverse in memory), above
 * it stochastic Lanczos quadrature (products only, value and gradient with error bars).
 */
export type GpMethod = 'auto' | 'cholesky' | 'slq';

/** 'auto' factors up to this order: two n×n float64 arrays (32 MB at 1000) and n³/3 multiply-adds (WASM, < 1 s). */
export const GP_DENSE_MAX_N = 1000;

export function gpRoute(n: number, method: GpMethod): { method: 'cholesky' | 'slq'; reason: string } {
  if (method !== 'auto') return { method, reason: `method: '${method}'` };
  return n <= GP_DENSE_MAX_N
    ? { method: 'cholesky', reason: `n = ${n} ≤ ${GP_DENSE_MAX_N}: dense float64 Cholesky` }
    : { method: 'slq', reason: `n = ${n} > ${GP_DENSE_MAX_N}: stochastic Lanczos quadrature` };
}
