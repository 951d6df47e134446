/**
 * LOBPCG (Knyazev 2001), scipy.sparse.linalg.lobpcg's contract for the standard problem A x = λ x.
 *
 * Each iteration: residuals R = A X − X Λ; the active columns (‖r_i‖ > tol) are preconditioned
 * (W = M R), made orthogonal to the constraints Y and to X, and orthonormalised; one `A.matmat`
 * gives A W; Rayleigh–Ritz on span[X, W, P] (P the previous search directions, whose A P is
 * carried along as a linear combination, never recomputed). The Gram matrix of [X, W, P] is
 * orthonormalised through its own eigen-decomposition (SVQB: directions with tiny Gram
 * eigenvalues dropped), which is what keeps the small 3k×3k problem stable.
 *
 * Differences from scipy: eigenvalues are returned ascending (like eigsh) whatever `largest`;
 * the default tol n·sqrt(eps) uses the eps of the operator's dtype; a small problem
 * (n − sizeY < 5k, scipy's rule) is solved densely, also with constraints (projected).
 */
import { Matrix } from 'ml-matrix';
import type { LinearOperator } from '../operators/linear-operator.js';
import { symmetricEigen } from './tridiagonal.js';
import {
  applyColumns,
  blockArg,
  checkNonNegative,
  checkPositiveInt,
  columnsToMatrix,
  dot,
  dtypeEps,
  norm,
  now,
  requireSquare,
  toOperator,
  type BlockInput,
  type OperatorInput,
} from './util.js';

export interface LobpcgOptions {
  /** Preconditioner applied to the residuals (M ≈ A⁻¹, SPD). */
  M?: OperatorInput;
  /** Constraints: iterate in the orthogonal complement of span(Y) (n×sizeY). */
  Y?: BlockInput;
  /** Largest (default) or smallest eigenvalues. */
  largest?: boolean;
  /** Residual-norm tolerance per column (default n·sqrt(eps) of the operator's dtype, scipy's). */
  tol?: number;
  /** Iterations (default 20, scipy's). */
  maxiter?: number;
  onProgress?: (p: { iteration: number; eigenvalues: Float64Array; residualNorms: Float64Array; elapsedMs: number }) => void;
}

export interface LobpcgResult {
  /** Ascending. */
  eigenvalues: Float64Array;
  /** n×k, column i ↔ eigenvalues[i]. */
  eigenvectors: Matrix;
  iterations: number;
  /** Final ‖A x_i − λ_i x_i‖, in the order of `eigenvalues`. */
  residualNorms: Float64Array;
  /** All residual norms ≤ tol (scipy only warns otherwise; so do we not throw). */
  converged: boolean;
  /** Operator products in vectors (a k-column matmat counts k). */
  matvecs: number;
}

/** Entries (i, j) = aᵢ·bⱼ, row-major p×q. */
function gram(a: readonly Float64Array[], b: readonly Float64Array[]): Float64Array {
  const G = new Float64Array(a.length * b.length);
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) G[i * b.length + j] = dot(a[i]!, b[j]!);
  return G;
}

/** Columns of [c₀ … c_{m−1}]·C for C row-major m×q. */
function combine(cols: readonly Float64Array[], C: Float64Array, q: number): Float64Array[] {
  const n = cols[0]!.length;
  const out = Array.from({ length: q }, () => new Float64Array(n));
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i]!;
    for (let j = 0; j < q; j++) {
      const w = C[i * q + j]!;
      if (w === 0) continue;
      const o = out[j]!;
      for (let t = 0; t < n; t++) o[t]! += w * c[t]!;
    }
  }
  return out;
}

/** x ← x − Q (Qᵀ x) for orthonormal Q, twice (classical Gram–Schmidt, twice is enough). */
function project(cols: Float64Array[], Q: readonly Float64Array[]): void {
  if (Q.length === 0) return;
  for (let pass = 0; pass < 2; pass++) {
    for (const x of cols) {
      const c = Q.map((q) => dot(q, x));
      Q.forEach((q, i) => {
        const ci = c[i]!;
        for (let t = 0; t < x.length; t++) x[t]! -= ci * q[t]!;
      });
    }
  }
}

/**
 * SVQB: the transform T (m×r row-major) with [cols]·T orthonormal, dropping directions whose
 * Gram eigenvalue is below `drop`·max (they carry no new information).
 */
function svqbTransform(G: Float64Array, m: number, drop: number): { T: Float64Array; r: number } {
  // Scale to unit diagonal first so that the drop test is relative per column.
  const s = Float64Array.from({ length: m }, (_, i) => {
    const d = G[i * m + i]!;
    return d > 0 ? 1 / Math.sqrt(d) : 0;
  });
  const Gs = Float64Array.from(G, (v, idx) => v * s[Math.floor(idx / m)]! * s[idx % m]!);
  const { eigenvalues, eigenvectors } = symmetricEigen(Gs, m);
  const top = Math.max(eigenvalues[m - 1]!, 0);
  const keep: number[] = [];
  for (let j = 0; j < m; j++) if (eigenvalues[j]! > drop * top) keep.push(j);
  const r = keep.length;
  const T = new Float64Array(m * r);
  for (let i = 0; i < m; i++) {
    keep.forEach((j, c) => (T[i * r + c] = (s[i]! * eigenvectors[i * m + j]!) / Math.sqrt(eigenvalues[j]!)));
  }
  return { T, r };
}

function orthonormalize(cols: Float64Array[], drop: number): Float64Array[] {
  if (cols.length === 0) return [];
  const { T, r } = svqbTransform(gram(cols, cols), cols.length, drop);
  return combine(cols, T, r);
}

export async function lobpcg(Ain: OperatorInput, Xin: BlockInput, options: LobpcgOptions = {}): Promise<LobpcgResult> {
  const fn = 'lobpcg';
  const A = toOperator(Ain, fn);
  const n = requireSquare(A, fn);
  A.expectRepeatedProducts(); // a Krylov method applies A many times
  if (!Matrix.isMatrix(Xin) && !Array.isArray(Xin)) throw new TypeError(`${fn}: X must be an n×k Matrix or number[][]`);
  let X = blockArg(Xin, n, fn, 'X');
  const k = X.length;
  const largest = options.largest ?? true;
  const eps = dtypeEps(A.dtype);
  const tol = options.tol === undefined || options.tol <= 0 ? Math.sqrt(eps) * n : checkNonNegative(options.tol, fn, 'tol');
  const maxiter = checkPositiveInt(options.maxiter ?? 20, fn, 'maxiter');
  let M: LinearOperator | undefined;
  if (options.M !== undefined) {
    M = toOperator(options.M, fn, 'M');
    if (M.shape[0] !== n || M.shape[1] !== n) throw new RangeError(`${fn}: M has shape ${M.shape[0]}x${M.shape[1]}, expected ${n}x${n}`);
  }
  let Y: Float64Array[] = [];
  if (options.Y !== undefined) {
    Y = orthonormalize(blockArg(options.Y, n, fn, 'Y'), 1e-14);
    if (Y.length < blockArg(options.Y, n, fn, 'Y').length) throw new RangeError(`${fn}: the constraints Y are not of full column rank`);
  }
  if (k + Y.length >= n) throw new RangeError(`${fn}: block size k = ${k} plus ${Y.length} constraints must be < n = ${n}`);
  const start = now();
  let matvecs = 0;
  const wantedFirst = (theta: Float64Array): number[] => {
    const idx = Array.from(theta, (_, i) => i);
    return largest ? idx.sort((a, b) => theta[b]! - theta[a]!) : idx.sort((a, b) => theta[a]! - theta[b]!);
  };
  const finish = (lam: Float64Array, Xc: Float64Array[], res: Float64Array, iterations: number): LobpcgResult => {
    const order = Array.from(lam, (_, i) => i).sort((a, b) => lam[a]! - lam[b]!);
    return {
      eigenvalues: Float64Array.from(order, (i) => lam[i]!),
      eigenvectors: columnsToMatrix(order.map((i) => Xc[i]!), n),
      iterations,
      residualNorms: Float64Array.from(order, (i) => res[i]!),
      converged: res.every((r) => r <= tol),
      matvecs,
    };
  };

  if (n - Y.length < 5 * k) {
    // scipy's rule: too small for a block iteration; decompose A (projected off Y) densely.
    const I = Array.from({ length: n }, (_, j) => {
      const e = new Float64Array(n);
      e[j] = 1;
      return e;
    });
    project(I, Y); // columns of P = I − YYᵀ
    const basis = orthonormalize(I, 1e-10);
    const AB = await applyColumns(A, basis);
    matvecs += basis.length;
    const H = gram(basis, AB);
    const m = basis.length;
    for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) H[i * m + j] = H[j * m + i] = 0.5 * (H[i * m + j]! + H[j * m + i]!);
    const { eigenvalues, eigenvectors } = symmetricEigen(H, m);
    const sel = wantedFirst(eigenvalues).slice(0, k);
    const C = new Float64Array(m * k);
    sel.forEach((c, j) => {
      for (let i = 0; i < m; i++) C[i * k + j] = eigenvectors[i * m + c]!;
    });
    const Xd = combine(basis, C, k);
    return finish(Float64Array.from(sel, (i) => eigenvalues[i]!), Xd, new Float64Array(k), 0);
  }

  project(X, Y);
  X = orthonormalize(X, 1e-14);
  if (X.length < k) throw new RangeError(`${fn}: the initial block X has rank ${X.length} < k = ${k} (after projecting off Y)`);
  let AX = await applyColumns(A, X);
  matvecs += k;
  // Initial Rayleigh–Ritz on span(X).
  let lambda: Float64Array;
  {
    const H = gram(X, AX);
    const { eigenvalues, eigenvectors } = symmetricEigen(H, k);
    const sel = wantedFirst(eigenvalues);
    const C = new Float64Array(k * k);
    sel.forEach((c, j) => {
      for (let i = 0; i < k; i++) C[i * k + j] = eigenvectors[i * k + c]!;
    });
    X = combine(X, C, k);
    AX = combine(AX, C, k);
    lambda = Float64Array.from(sel, (i) => eigenvalues[i]!);
  }
  let P: Float64Array[] = [];
  let AP: Float64Array[] = [];
  let best = { maxRes: Infinity, lambda, X, res: new Float64Array(k) };
  let iterations = 0;
  for (;;) {
    const R = X.map((x, j) => Float64Array.from(AX[j]!, (v, t) => v - lambda[j]! * x[t]!));
    const res = Float64Array.from(R, (r) => norm(r));
    const maxRes = Math.max(...res);
    if (maxRes < best.maxRes) best = { maxRes, lambda, X, res };
    options.onProgress?.({ iteration: iterations, eigenvalues: Float64Array.from(lambda), residualNorms: res, elapsedMs: now() - start });
    const active = R.filter((_, j) => res[j]! > tol);
    if (active.length === 0 || iterations >= maxiter) break;
    iterations++;

    let W = M ? await applyColumns(M, active) : active;
    project(W, Y);
    project(W, X);
    W = orthonormalize(W, 1e-12);
    if (W.length === 0) break; // residuals entirely inside span(X): nothing new to add
    const AW = await applyColumns(A, W);
    matvecs += W.length;

    // Rayleigh–Ritz on [X, W, P], orthonormalised through its Gram matrix.
    const S = [...X, ...W, ...P];
    const AS = [...AX, ...AW, ...AP];
    const m = S.length;
    let { T, r } = svqbTransform(gram(S, S), m, 1e-12);
    if (r < k) ({ T, r } = svqbTransform(gram(S, S), m, 0)); // never drop below the block size
    const H = gram(S, AS);
    // H' = Tᵀ H T (symmetrised).
    const HT = new Float64Array(m * r);
    for (let i = 0; i < m; i++) for (let j = 0; j < r; j++) {
      let s = 0;
      for (let l = 0; l < m; l++) s += 0.5 * (H[i * m + l]! + H[l * m + i]!) * T[l * r + j]!;
      HT[i * r + j] = s;
    }
    const Hp = new Float64Array(r * r);
    for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) {
      let s = 0;
      for (let l = 0; l < m; l++) s += T[l * r + i]! * HT[l * r + j]!;
      Hp[i * r + j] = s;
    }
    const { eigenvalues, eigenvectors } = symmetricEigen(Hp, r);
    const sel = wantedFirst(eigenvalues).slice(0, k);
    // Coefficients of the new X in S: C = T·Z[:, sel] (m×k).
    const C = new Float64Array(m * k);
    for (let i = 0; i < m; i++) sel.forEach((c, j) => {
      let s = 0;
      for (let l = 0; l < r; l++) s += T[i * r + l]! * eigenvectors[l * r + c]!;
      C[i * k + j] = s;
    });
    // P = the [W, P] part of the update (its A P follows from the same coefficients).
    const Cp = C.slice(k * k);
    P = combine(S.slice(k), Cp, k);
    AP = combine(AS.slice(k), Cp, k);
    X = combine(S, C, k);
    AX = combine(AS, C, k);
    lambda = Float64Array.from(sel, (i) => eigenvalues[i]!);
  }
  const last = X.map((x, j) => norm(Float64Array.from(AX[j]!, (v, t) => v - lambda[j]! * x[t]!)));
  const lastMax = Math.max(...last);
  if (lastMax <= best.maxRes) return finish(lambda, X, Float64Array.from(last), iterations);
  return finish(best.lambda, best.X, best.res, iterations); // scipy returns the best iterate too
}
