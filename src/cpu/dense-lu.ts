/**
 * Dense LU factorisation with partial pivoting (LAPACK getrf's algorithm, unblocked, right-looking) and its
 * solves, in plain JS over one row-major Float64Array: the oracle of the WASM LU (dense-lu-wasm.ts) that eigsh's
 * symmetric indefinite shift-invert systems (A − σI) y = v use, where the WASM Cholesky (dense-cholesky.ts) refuses a
 * non-positive pivot. Every inner loop runs along a contiguous row.
 *
 * A pivot that is exactly zero means the matrix is singular (LAPACK's info > 0): the factorisation stops
 * and reports its index, as scipy's lu_factor does, instead of dividing by zero.
 */

/** The factors of P·M = L·U, L unit lower and U upper stored together (row-major n×n), and the row order. */
export interface LuFactors {
  readonly n: number;
  /** L below the diagonal (unit diagonal not stored), U on and above it. */
  readonly lu: Float64Array;
  /** Row i of the factors is row perm[i] of M. */
  readonly perm: Int32Array;
}

/** The outcome of `luFactor`: the factors, or the first column whose pivot is exactly zero (M singular). */
export type LuOutcome = { readonly factors: LuFactors } | { readonly singularColumn: number };

/**
 * Factors M (row-major n×n, overwritten with the factors: pass a copy to keep M). Returns the first column
 * whose largest candidate pivot is exactly zero when M is singular, or a non-finite entry's column.
 */
export function luFactor(M: Float64Array, n: number): LuOutcome {
  if (!Number.isInteger(n) || n < 1 || M.length !== n * n) {
    throw new RangeError(`luFactor: M must hold n*n entries for a positive integer n, got ${M.length} entries and n = ${n}`);
  }
  const a = M;
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  const scratch = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    if (!pivotColumn(a, n, k, perm, scratch)) return { singularColumn: k };
    const pivotRow = k * n;
    const inv = 1 / a[pivotRow + k]!;
    for (let i = k + 1; i < n; i++) {
      const row = i * n;
      const l = a[row + k]! * inv;
      a[row + k] = l;
      if (l === 0) continue;
      for (let j = k + 1; j < n; j++) a[row + j]! -= l * a[pivotRow + j]!;
    }
  }
  return { factors: { n, lu: a, perm } };
}

/**
 * Partial pivoting at column c of the row-major n×n `a` (rows ≥ c): the row of largest |a[·][c]| swapped with row c —
 * whole rows, and `perm` alike (`scratch`: n entries). False where that largest is not positive and finite: the column
 * is singular (or holds a non-finite entry), as LAPACK's getrf reports.
 */
export function pivotColumn(a: Float64Array, n: number, c: number, perm: Int32Array, scratch: Float64Array): boolean {
  let p = c;
  let best = Math.abs(a[c * n + c]!);
  for (let i = c + 1, t = (c + 1) * n + c; i < n; i++, t += n) {
    const v = Math.abs(a[t]!);
    if (v > best) {
      best = v;
      p = i;
    }
  }
  if (!(best > 0 && Number.isFinite(best))) return false;
  if (p !== c) {
    scratch.set(a.subarray(c * n, c * n + n));
    a.copyWithin(c * n, p * n, p * n + n);
    a.set(scratch, p * n);
    const t = perm[c]!;
    perm[c] = perm[p]!;
    perm[p] = t;
  }
  return true;
}

/** x = M⁻¹ b from the factors (b untouched; a fresh vector). */
export function luSolve(f: LuFactors, b: Float64Array): Float64Array {
  const { n, lu, perm } = f;
  if (b.length !== n) throw new RangeError(`luSolve: b has length ${b.length}, expected ${n}`);
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = b[perm[i]!]!;
  // L z = P b (unit lower), then U x = z; each a dot product along a row
  for (let i = 1; i < n; i++) {
    const row = i * n;
    let s = x[i]!;
    for (let j = 0; j < i; j++) s -= lu[row + j]! * x[j]!;
    x[i] = s;
  }
  for (let i = n - 1; i >= 0; i--) {
    const row = i * n;
    let s = x[i]!;
    for (let j = i + 1; j < n; j++) s -= lu[row + j]! * x[j]!;
    x[i] = s / lu[row + i]!;
  }
  return x;
}
