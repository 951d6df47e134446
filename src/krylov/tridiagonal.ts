/**
 * Symmetric tridiagonal eigensolver (implicit QL with Wilkinson shifts) and a small dense
 * symmetric eigensolver built on it (Householder tridiagonalisation + the same QL).
 *
 * Lanczos only ever needs the eigenvalues of its projected matrix and a few rows of the
 * eigenvector matrix (the last row gives the residual estimates), so the rotations can be
 * accumulated into just those rows: O(k) work per sweep for the values and one row,
 * O(k²) per sweep with full vectors.
 */
import { householderInWasm, prepareQl, qlInWasm, RESCUE_AFTER, unrotateInWasm } from '../operators/tridiagonal-ql.js';

/** Prepares the solvers' first tridiagonal eigenproblem ahead of it (its program compiled meanwhile: cpu/tridiagonal-ql.ts). */
export const prepareTridiagonalEigen = prepareQl;

/** Thrown when a QL sweep budget is exhausted (it never happens for finite input in practice). */
export class TridiagonalNoConvergence extends Error {
  constructor(
    readonly index: number,
    readonly iterations: number,
  ) {
    super(
      `tridiagonalEigen: no convergence for eigenvalue ${index} after ${iterations} QL iterations ` +
        `(the input probably contains NaN or Inf)`,
    );
    this.name = 'TridiagonalNoConvergence';
  }
}

export interface TridiagonalEigenOptions {
  /**
   * Which rows of the eigenvector matrix to return: `false` (default) none, `true` all k rows
   * (the full k×k matrix), or a list of row indices (e.g. `[k - 1]` for Lanczos residual estimates).
   */
  eigenvectors?: boolean | readonly number[];
  /** QL iterations allowed per eigenvalue before giving up (default 60; 2–3 is typical). */
  maxIterationsPerValue?: number;
}

export interface TridiagonalEigenResult {
  /** Eigenvalues, ascending. */
  eigenvalues: Float64Array;
  /**
   * Selected rows of the eigenvector matrix, row-major `rows.length × k`:
   * `eigenvectors[r * k + j]` is component `rows[r]` of the eigenvector of `eigenvalues[j]`.
   */
  eigenvectors?: Float64Array;
  rows?: number[];
  /** Total QL iterations performed. */
  iterations: number;
}

function hypot(a: number, b: number): number {
  // Math.hypot is an order of magnitude slower in V8; this form cannot overflow either.
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) {
    const t = y / x;
    return x * Math.sqrt(1 + t * t);
  }
  if (y === 0) return 0;
  const t = x / y;
  return y * Math.sqrt(1 + t * t);
}

/**
 * Implicit QL on (d, e) in place, then d ascending with the columns of z alike (`sortAscending`). `e[i]` couples i and
 * i+1 (length ≥ k, e[k-1] ignored). `z` holds `zRows` rows of length k (row-major) that receive the rotations
 * (Z ← Z·G). Run by the WebAssembly twin of `qlLoops` and `sortAscending` (cpu/tridiagonal-ql.ts, the same bits) where
 * it is available, else by them.
 */
function qlSorted(d: Float64Array, e: Float64Array, z: Float64Array | null, zRows: number, maxIter: number, reduced: boolean): number {
  let result = qlInWasm(d, e, z, zRows, maxIter, reduced, true);
  if (result === undefined) {
    result = qlLoops(d, e, z, zRows, maxIter, reduced);
    if (result >= 0) sortAscending(d, z, zRows);
  }
  if (result < 0) throw new TridiagonalNoConvergence(-1 - result, Math.floor(maxIter));
  return result;
}

/**
 * `ql` by plain loops: the oracle of its WebAssembly twin, and the path where that is not available. Returns the QL
 * iterations made, or −1 − l where eigenvalue l did not converge within `maxIter` (as the program does).
 */
export function qlLoops(d: Float64Array, e: Float64Array, z: Float64Array | null, zRows: number, maxIter: number, reduced: boolean): number {
  const k = d.length;
  if (k > 0) e[k - 1] = 0;
  // A coupling is negligible against its two diagonal entries (the relative test, which keeps small eigenvalues of a
  // graded T — a Lanczos T of (A − σI)⁻¹ — to full relative accuracy), or against the whole matrix (EISPACK tql2's
  // test). The local test alone never held for a Gaussian kernel's cluster of eigenvalues near 0, whose couplings
  // stay at the rounding of the whole matrix (eigsh method 'dense', n = 500: TridiagonalNoConvergence). The matrix
  // test applies from the start where T is the rounded reduction of a dense matrix (`reduced`: its eigenvalues are
  // known only to ε·‖T‖ anyway), and after RESCUE_AFTER sweeps on one eigenvalue elsewhere.
  let norm = 0;
  for (let i = 0; i < k; i++) norm = Math.max(norm, Math.abs(d[i]!) + Math.abs(e[i]!));
  const floor = Number.EPSILON * norm;
  let total = 0;
  for (let l = 0; l < k; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      const matrixTest = reduced || iter >= RESCUE_AFTER;
      for (; m < k - 1; m++) {
        const dd = Math.abs(d[m]!) + Math.abs(d[m + 1]!);
        const em = Math.abs(e[m]!);
        if (em <= Number.EPSILON * dd || (matrixTest && em <= floor)) break;
      }
      if (m === l) break;
      if (++iter > maxIter) return -1 - l;
      total++;
      // Wilkinson shift from the leading 2×2 block, applied implicitly.
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = hypot(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let underflow = false;
      for (let i = m - 1; i >= l; i--) {
        const f = s * e[i]!;
        const b = c * e[i]!;
        r = hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the matrix split; restart the sweep on the smaller block.
          d[i + 1]! -= p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        if (z) {
          for (let row = 0, o = 0; row < zRows; row++, o += k) {
            const zi = z[o + i]!;
            const zi1 = z[o + i + 1]!;
            z[o + i + 1] = s * zi + c * zi1;
            z[o + i] = c * zi - s * zi1;
          }
        }
      }
      if (underflow) continue;
      d[l]! -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return total;
}

/** Sorts eigenvalues ascending and permutes the eigenvector columns alike (the oracle of the program's `sort`). */
export function sortAscending(d: Float64Array, z: Float64Array | null, zRows: number): void {
  const k = d.length;
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => d[a]! - d[b]!);
  let sorted = true;
  for (let i = 0; i < k; i++) if (order[i] !== i) sorted = false;
  if (sorted) return;
  const dd = Float64Array.from(order, (i) => d[i]!);
  d.set(dd);
  if (z) {
    const row = new Float64Array(k);
    for (let r = 0, o = 0; r < zRows; r++, o += k) {
      for (let j = 0; j < k; j++) row[j] = z[o + order[j]!]!;
      z.set(row, o);
    }
  }
}

/**
 * Eigenvalues (ascending) and optionally selected eigenvector rows of the symmetric
 * tridiagonal matrix with diagonal `diag` (length k) and off-diagonal `offDiag` (length k−1).
 */
export function tridiagonalEigen(
  diag: ArrayLike<number>,
  offDiag: ArrayLike<number>,
  options: TridiagonalEigenOptions = {},
): TridiagonalEigenResult {
  const k = diag.length;
  if (offDiag.length < k - 1) {
    throw new Error(`tridiagonalEigen: offDiag has length ${offDiag.length}, expected ${Math.max(k - 1, 0)}`);
  }
  const maxIter = options.maxIterationsPerValue ?? 60;
  const d = Float64Array.from(diag);
  const e = new Float64Array(Math.max(k, 1));
  for (let i = 0; i < k - 1; i++) e[i] = offDiag[i]!;
  for (let i = 0; i < k; i++) {
    if (!Number.isFinite(d[i]!) || (i < k - 1 && !Number.isFinite(e[i]!))) {
      throw new Error(`tridiagonalEigen: non-finite entry at index ${i}`);
    }
  }
  let rows: number[] | undefined;
  if (options.eigenvectors === true) rows = Array.from({ length: k }, (_, i) => i);
  else if (Array.isArray(options.eigenvectors)) {
    rows = [...(options.eigenvectors as readonly number[])];
    for (const r of rows) {
      if (!Number.isInteger(r) || r < 0 || r >= k) throw new Error(`tridiagonalEigen: row ${r} out of range [0, ${k})`);
    }
  }
  let z: Float64Array | null = null;
  if (rows) {
    z = new Float64Array(rows.length * k);
    rows.forEach((r, i) => (z![i * k + r] = 1));
  }
  const iterations = qlSorted(d, e, z, rows?.length ?? 0, maxIter, false);
  const result: TridiagonalEigenResult = { eigenvalues: d, iterations };
  if (z && rows) {
    result.eigenvectors = z;
    result.rows = rows;
  }
  return result;
}

/**
 * Householder reduction of the symmetric m×m A (row-major, both triangles, overwritten) to the tridiagonal HᵀAH,
 * H = H₁⋯Hₘ₋₂, accumulating Q ← Q·H into the first qCount rows of Q (row-major, m columns). Every reflection acts on
 * indices ≥ 1, so H leaves e₀ alone.
 */
function householderTridiagonal(A: Float64Array, m: number, Q: Float64Array, qCount: number): void {
  if (!householderInWasm(A, m, Q, qCount)) householderLoops(A, m, Q, qCount);
}

/** `householderTridiagonal` by plain loops: the oracle of its WebAssembly twin (cpu/tridiagonal-ql.ts), and its fallback. */
export function householderLoops(A: Float64Array, m: number, Q: Float64Array, qCount: number): void {
  const v = new Float64Array(m);
  const p = new Float64Array(m);
  for (let k = 0; k < m - 2; k++) {
    // Reflect column k below the subdiagonal to zero: H = I − 2vvᵀ/vᵀv on indices k+1..m−1.
    let xnorm2 = 0;
    for (let i = k + 1; i < m; i++) xnorm2 += A[i * m + k]! * A[i * m + k]!;
    let tail = 0;
    for (let i = k + 2; i < m; i++) tail += A[i * m + k]! * A[i * m + k]!;
    if (tail === 0) continue;
    const x0 = A[(k + 1) * m + k]!;
    const alpha = x0 >= 0 ? -Math.sqrt(xnorm2) : Math.sqrt(xnorm2);
    v.fill(0);
    for (let i = k + 1; i < m; i++) v[i] = A[i * m + k]!;
    v[k + 1] = x0 - alpha;
    let vv = 0;
    for (let i = k + 1; i < m; i++) vv += v[i]! * v[i]!;
    const tau = 2 / vv;
    // Trailing block S ← H S H = S − v qᵀ − q vᵀ with p = τ S v, q = p − (τ/2)(vᵀp) v.
    let vp = 0;
    for (let i = k + 1; i < m; i++) {
      let s = 0;
      for (let j = k + 1; j < m; j++) s += A[i * m + j]! * v[j]!;
      p[i] = tau * s;
      vp += v[i]! * p[i]!;
    }
    const kk = (tau / 2) * vp;
    for (let i = k + 1; i < m; i++) p[i] = p[i]! - kk * v[i]!;
    for (let i = k + 1; i < m; i++) {
      for (let j = k + 1; j < m; j++) A[i * m + j] = A[i * m + j]! - v[i]! * p[j]! - p[i]! * v[j]!;
    }
    A[(k + 1) * m + k] = alpha;
    A[k * m + k + 1] = alpha;
    for (let i = k + 2; i < m; i++) {
      A[i * m + k] = 0;
      A[k * m + i] = 0;
    }
    // Q ← Q H.
    for (let r = 0; r < qCount; r++) {
      let s = 0;
      for (let j = k + 1; j < m; j++) s += Q[r * m + j]! * v[j]!;
      s *= tau;
      for (let j = k + 1; j < m; j++) Q[r * m + j] = Q[r * m + j]! - s * v[j]!;
    }
  }
}

/**
 * Eigen-decomposition of a small dense symmetric matrix (row-major m×m; only the lower
 * triangle is read): Householder reduction to tridiagonal form, then the QL above with the
 * reduction's Q as the starting eigenvector matrix. O(m³); meant for Rayleigh–Ritz steps.
 * Returns eigenvalues ascending and eigenvectors row-major m×m (column j ↔ eigenvalue j); with `rows`, only those rows
 * of the eigenvector matrix (row-major rows.length×m) — each row is formed independently of the others, so they equal
 * the full matrix's rows bit for bit, at O(m²) per row instead of O(m³).
 */
export function symmetricEigen(
  a: ArrayLike<number>, m: number, rows?: readonly number[],
): { eigenvalues: Float64Array; eigenvectors: Float64Array } {
  if (a.length < m * m) throw new Error(`symmetricEigen: expected ${m * m} entries, got ${a.length}`);
  const A = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      const v = a[i * m + j]!;
      if (!Number.isFinite(v)) throw new Error(`symmetricEigen: non-finite entry at (${i}, ${j})`);
      A[i * m + j] = v;
      A[j * m + i] = v;
    }
  }
  for (const r of rows ?? []) if (!(Number.isInteger(r) && r >= 0 && r < m)) throw new Error(`symmetricEigen: row ${r} out of range [0, ${m})`);
  const qRows = rows ?? Array.from({ length: m }, (_, i) => i);
  const Q = new Float64Array(qRows.length * m);
  qRows.forEach((r, i) => (Q[i * m + r] = 1));
  householderTridiagonal(A, m, Q, qRows.length);
  const d = new Float64Array(m);
  const e = new Float64Array(Math.max(m, 1));
  for (let i = 0; i < m; i++) d[i] = A[i * m + i]!;
  for (let i = 0; i < m - 1; i++) e[i] = A[(i + 1) * m + i]!;
  qlSorted(d, e, Q, qRows.length, 60, true);
  return { eigenvalues: d, eigenvectors: Q };
}

/**
 * The leading block of a thick-restart Lanczos projection — diag(θ) (the kept Ritz values) bordered by their couplings s
 * to the next basis vector — brought to tridiagonal form by an orthogonal Q on the kept indices alone: Qᵀdiag(θ)Q is
 * tridiagonal (d, e[0..keep−2]) and Qᵀs = e[keep−1]·e_last, so the whole projection becomes tridiagonal and each
 * Rayleigh–Ritz step after the restart a tridiagonal one. Q row-major keep×keep: Q[r·keep + p] is component r of
 * rotated vector p. The bordered matrix is reduced with the border first (index 0, which the reflections leave alone),
 * and its indices 1..keep read in reverse, so that the border couples to the last one.
 */
export function arrowToTridiagonal(theta: Float64Array, s: Float64Array): { d: Float64Array; e: Float64Array; Q: Float64Array } {
  const keep = theta.length;
  const m = keep + 1;
  const A = new Float64Array(m * m);
  for (let i = 0; i < keep; i++) {
    A[(i + 1) * m + i + 1] = theta[i]!;
    A[(i + 1) * m] = s[i]!;
    A[i + 1] = s[i]!;
  }
  const H = new Float64Array(m * m);
  for (let i = 0; i < m; i++) H[i * m + i] = 1;
  householderTridiagonal(A, m, H, m);
  const d = new Float64Array(keep);
  const e = new Float64Array(keep);
  const Q = new Float64Array(keep * keep);
  for (let p = 0; p < keep; p++) {
    const h = keep - p; // the bordered matrix's index of rotated vector p
    d[p] = A[h * m + h]!;
    e[p] = A[h * m + h - 1]!; // couples p to p + 1 (to the border for p = keep − 1)
    for (let r = 0; r < keep; r++) Q[r * keep + p] = H[(r + 1) * m + h]!;
  }
  return { d, e, Q };
}

/**
 * Y ← diag(Q, I)·Y on Y's first `keep` rows (Y row-major size×size, Q row-major keep×keep): Ritz vectors of a thick
 * restart's rotated projection in the basis itself (see `arrowToTridiagonal`). By the WebAssembly twin of
 * `unrotateLoops` where it is available.
 */
export function unrotate(Y: Float64Array, size: number, Q: Float64Array, keep: number): void {
  if (!unrotateInWasm(Y, size, Q, keep)) unrotateLoops(Y, size, Q, keep);
}

/** `unrotate` by plain loops: its twin's oracle, and its fallback. */
export function unrotateLoops(Y: Float64Array, size: number, Q: Float64Array, keep: number): void {
  const head = Y.slice(0, keep * size);
  Y.fill(0, 0, keep * size);
  for (let r = 0; r < keep; r++) {
    for (let p = 0; p < keep; p++) {
      const q = Q[r * keep + p]!;
      for (let c = 0; c < size; c++) Y[r * size + c]! += q * head[p * size + c]!;
    }
  }
}
