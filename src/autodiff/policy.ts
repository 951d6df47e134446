/**
 * Which route a log-determinant takes — `logdet`, `inverseQuadLogdet` and the GP likelihood alike, as `solve`'s 'auto'
 * picks Cholesky or CG and GPyTorch's `max_cholesky_size` its Cholesky or SLQ: up to GP_DENSE_MAX_N rows a dense
 * float64 Cholesky factorisation (exact value and trace terms, O(n³), the n×n matrix in memory: dense-logdet.ts),
 * above it stochastic Lanczos quadrature (products only, values with error bars: slq.ts). An option only SLQ reads
 * (probes, seed, preconditioner, …) given with 'auto' asks for SLQ; with 'cholesky' it is refused by name.
 */
export type GpMethod = 'auto' | 'cholesky' | 'slq';

/** 'auto' factors up to this order: two n×n float64 arrays (16 MB at 1000) and n³/3 multiply-adds (WASM, < 1 s). */
export const GP_DENSE_MAX_N = 1000;

/**
 * The route of `fn` for an n×n A: `method`'s, with 'auto' by n, or SLQ where `slqKey` (the first SLQ-only option given)
 * asked for it. A SLQ-only option with method 'cholesky' is an error naming it.
 */
export function logdetRoute(fn: string, n: number, method: GpMethod, slqKey?: string): { method: 'cholesky' | 'slq'; reason: string } {
  if (method === 'cholesky') {
    if (slqKey !== undefined) throw new RangeError(`${fn}: option '${slqKey}' is for stochastic Lanczos quadrature; method 'cholesky' does not use it`);
    return { method, reason: "method: 'cholesky'" };
  }
  if (method === 'slq') return { method, reason: "method: 'slq'" };
  if (slqKey !== undefined) return { method: 'slq', reason: `option '${slqKey}' given: stochastic Lanczos quadrature` };
  return n <= GP_DENSE_MAX_N
    ? { method: 'cholesky', reason: `n = ${n} ≤ ${GP_DENSE_MAX_N}: dense float64 Cholesky` }
    : { method: 'slq', reason: `n = ${n} > ${GP_DENSE_MAX_N}: stochastic Lanczos quadrature` };
}
