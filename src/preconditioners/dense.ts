/**
 * Tight dense kernels for the preconditioners' tall blocks: n×k row-major Float64Arrays with
 * n ≫ k (sketches, bases, Cholesky factors) and small k×k row-major squares.
 *
 * Why not ml-matrix: its Matrix stores rows as separate arrays and goes through get/set, which
 * costs ~10× the loops below on the O(n·k²) steps that dominate a preconditioner build. The
 * loops keep the inner index contiguous and take four rows at a time so each pass over a k×k
 * accumulator serves four rows (it does not fit in L1 once k is a few hundred).
 */
import { Matrix } from 'ml-matrix';
import { rowMajorMatvec } from '../operators/row-major.js';
import { Block } from '../operators/block.js';

/** An n×k row-major block. */
export interface Tall {
  readonly data: Float64Array;
  readonly rows: number;
  readonly cols: number;
}

export function tall(rows: number, cols: number, data: Float64Array = new Float64Array(rows * cols)): Tall {
  if (data.length !== rows * cols) throw new Error(`tall: ${data.length} values for ${rows}x${cols}`);
  return { data, rows, cols };
}

/** Columns [from, to) of A as a new block. */
export function columnSlice(A: Tall, from: number, to: number): Tall {
  const k = to - from;
  const out = new Float64Array(A.rows * k);
  for (let i = 0; i < A.rows; i++) out.set(A.data.subarray(i * A.cols + from, i * A.cols + to), i * k);
  return tall(A.rows, k, out);
}

/** [A | B] side by side. */
export function concatColumns(A: Tall, B: Tall): Tall {
  const k = A.cols + B.cols;
  const out = new Float64Array(A.rows * k);
  for (let i = 0; i < A.rows; i++) {
    out.set(A.data.subarray(i * A.cols, (i + 1) * A.cols), i * k);
    out.set(B.data.subarray(i * B.cols, (i + 1) * B.cols), i * k + A.cols);
  }
  return tall(A.rows, k, out);
}

/** A column-major Block as a row-major Tall (a single column is shared, not copied). */
export function tallFromBlock(B: Block): Tall {
  return tall(B.rows, B.cols, B.cols === 1 ? B.data : B.toRowMajor());
}

/** A row-major Tall as a column-major Block (a single column is shared, not copied). */
export function blockFromTall(T: Tall): Block {
  return T.cols === 1 ? new Block(T.data, T.rows, 1) : Block.fromRowMajor(T.data, T.rows, T.cols);
}

export function toMatrix(A: Tall): Matrix {
  const M = new Matrix(A.rows, A.cols);
  for (let i = 0; i < A.rows; i++) {
    const row = A.data.subarray(i * A.cols, (i + 1) * A.cols);
    for (let j = 0; j < A.cols; j++) M.set(i, j, row[j]!);
  }
  return M;
}

/** Accumulates AᵀB (A: n×p, B: n×q) into out (p×q row-major); out = AᵀB when it starts at zero. */
export function crossInto(out: Float64Array, A: Tall, B: Tall): Float64Array {
  const { rows: n, cols: p } = A;
  const q = B.cols;
  const a = A.data;
  const b = B.data;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const a0 = i * p, a1 = a0 + p, a2 = a1 + p, a3 = a2 + p;
    const b0 = i * q, b1 = b0 + q, b2 = b1 + q, b3 = b2 + q;
    for (let r = 0; r < p; r++) {
      const x0 = a[a0 + r]!, x1 = a[a1 + r]!, x2 = a[a2 + r]!, x3 = a[a3 + r]!;
      const o = r * q;
      for (let c = 0; c < q; c++) out[o + c]! += x0 * b[b0 + c]! + x1 * b[b1 + c]! + x2 * b[b2 + c]! + x3 * b[b3 + c]!;
    }
  }
  for (; i < n; i++) {
    const ai = i * p, bi = i * q;
    for (let r = 0; r < p; r++) {
      const x = a[ai + r]!;
      const o = r * q;
      for (let c = 0; c < q; c++) out[o + c]! += x * b[bi + c]!;
    }
  }
  return out;
}

/** AᵀB. */
export function cross(A: Tall, B: Tall): Float64Array {
  return crossInto(new Float64Array(A.cols * B.cols), A, B);
}

/** Accumulates AᵀA into G (k×k, both triangles filled at the end): half the work of `cross(A, A)`. */
export function gramInto(G: Float64Array, A: Tall): Float64Array {
  const { rows: n, cols: k } = A;
  const a = A.data;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o0 = i * k, o1 = o0 + k, o2 = o1 + k, o3 = o2 + k;
    for (let r = 0; r < k; r++) {
      const x0 = a[o0 + r]!, x1 = a[o1 + r]!, x2 = a[o2 + r]!, x3 = a[o3 + r]!;
      const g = r * k;
      for (let c = r; c < k; c++) G[g + c]! += x0 * a[o0 + c]! + x1 * a[o1 + c]! + x2 * a[o2 + c]! + x3 * a[o3 + c]!;
    }
  }
  for (; i < n; i++) {
    const o = i * k;
    for (let r = 0; r < k; r++) {
      const x = a[o + r]!;
      const g = r * k;
      for (let c = r; c < k; c++) G[g + c]! += x * a[o + c]!;
    }
  }
  for (let r = 0; r < k; r++) for (let c = r + 1; c < k; c++) G[c * k + r] = G[r * k + c]!;
  return G;
}

export function gram(A: Tall): Float64Array {
  return gramInto(new Float64Array(A.cols * A.cols), A);
}

/** A·W with W p×q row-major (A n×p). */
export function mulSmall(A: Tall, W: Float64Array, q: number): Tall {
  const { rows: n, cols: p } = A;
  if (q === 1) return tall(n, 1, mulVector(A, W));
  const a = A.data;
  const out = new Float64Array(n * q);
  // Four rows of W per pass over the output row: one load/store of out per four multiply-adds.
  for (let i = 0; i < n; i++) {
    const ai = i * p, oi = i * q;
    let r = 0;
    for (; r + 3 < p; r += 4) {
      const x0 = a[ai + r]!, x1 = a[ai + r + 1]!, x2 = a[ai + r + 2]!, x3 = a[ai + r + 3]!;
      const w0 = r * q, w1 = w0 + q, w2 = w1 + q, w3 = w2 + q;
      for (let c = 0; c < q; c++) out[oi + c]! += x0 * W[w0 + c]! + x1 * W[w1 + c]! + x2 * W[w2 + c]! + x3 * W[w3 + c]!;
    }
    for (; r < p; r++) {
      const x = a[ai + r]!;
      const w = r * q;
      for (let c = 0; c < q; c++) out[oi + c]! += x * W[w + c]!;
    }
  }
  return tall(n, q, out);
}

/** A·w for a vector w of length p (A n×p): one dot product per row, four partial sums. */
export function mulVector(A: Tall, w: Float64Array): Float64Array {
  return rowMajorMatvec(A.data, A.rows, A.cols, w);
}

/** Aᵀx for a vector x of length n (A n×p), four rows per pass over the length-p accumulator. */
export function crossVector(A: Tall, x: Float64Array): Float64Array {
  const { rows: n, cols: p } = A;
  const a = A.data;
  const out = new Float64Array(p);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const a0 = i * p, a1 = a0 + p, a2 = a1 + p, a3 = a2 + p;
    const x0 = x[i]!, x1 = x[i + 1]!, x2 = x[i + 2]!, x3 = x[i + 3]!;
    for (let r = 0; r < p; r++) out[r]! += x0 * a[a0 + r]! + x1 * a[a1 + r]! + x2 * a[a2 + r]! + x3 * a[a3 + r]!;
  }
  for (; i < n; i++) {
    const ai = i * p;
    const xi = x[i]!;
    for (let r = 0; r < p; r++) out[r]! += xi * a[ai + r]!;
  }
  return out;
}

/** A ← A − Q·S with S = QᵀA (p×k): the projection step of block Gram–Schmidt. */
export function subtractProduct(A: Tall, Q: Tall, S: Float64Array): void {
  const QS = mulSmall(Q, S, A.cols).data;
  const a = A.data;
  for (let t = 0; t < a.length; t++) a[t]! -= QS[t]!;
}

/**
 * Upper Cholesky factor R of a symmetric k×k matrix (M = RᵀR, only the upper triangle read),
 * or undefined when a pivot is not positive (M is not numerically positive definite).
 */
export function choleskyUpper(M: Float64Array, k: number): Float64Array | undefined {
  // Column-oriented on Rᵀ (lower, row-major): the inner products run over contiguous rows.
  const L = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    const lj = j * k;
    let d = M[j * k + j]!;
    for (let t = 0; t < j; t++) d -= L[lj + t]! * L[lj + t]!;
    if (!(d > 0)) return undefined;
    const piv = Math.sqrt(d);
    L[lj + j] = piv;
    for (let i = j + 1; i < k; i++) {
      const li = i * k;
      let s = M[j * k + i]!;
      for (let t = 0; t < j; t++) s -= L[li + t]! * L[lj + t]!;
      L[li + j] = s / piv;
    }
  }
  return transposeSquare(L, k);
}

export function transposeSquare(A: Float64Array, k: number): Float64Array {
  const T = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) T[j * k + i] = A[i * k + j]!;
  return T;
}

/**
 * Y·R⁻¹ for an upper-triangular k×k R. Right-looking on four rows at a time: once x_j is known,
 * row j of R (contiguous) is subtracted from the four remaining right-hand sides — independent
 * multiply-adds instead of the dependent dot-product chain of the row-by-row substitution (~2–4×).
 */
export function rightSolveUpper(Y: Tall, R: Float64Array): Tall {
  const { rows: n, cols: k } = Y;
  const out = Float64Array.from(Y.data);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o0 = i * k, o1 = o0 + k, o2 = o1 + k, o3 = o2 + k;
    for (let j = 0; j < k; j++) {
      const d = R[j * k + j]!;
      const x0 = (out[o0 + j]! /= d), x1 = (out[o1 + j]! /= d), x2 = (out[o2 + j]! /= d), x3 = (out[o3 + j]! /= d);
      const rj = j * k;
      for (let c = j + 1; c < k; c++) {
        const r = R[rj + c]!;
        out[o0 + c]! -= x0 * r;
        out[o1 + c]! -= x1 * r;
        out[o2 + c]! -= x2 * r;
        out[o3 + c]! -= x3 * r;
      }
    }
  }
  for (; i < n; i++) {
    const o = i * k;
    for (let j = 0; j < k; j++) {
      const x = (out[o + j]! /= R[j * k + j]!);
      const rj = j * k;
      for (let c = j + 1; c < k; c++) out[o + c]! -= x * R[rj + c]!;
    }
  }
  return tall(n, k, out);
}

/** Solves (RᵀR) X = B in place for an upper-triangular R (k×k) and B k×q row-major. */
export function choleskySolveInPlace(R: Float64Array, k: number, B: Float64Array, q: number): Float64Array {
  // Rᵀ z = b (forward), then R x = z (backward).
  for (let i = 0; i < k; i++) {
    for (let t = 0; t < i; t++) {
      const r = R[t * k + i]!;
      if (r !== 0) for (let c = 0; c < q; c++) B[i * q + c]! -= r * B[t * q + c]!;
    }
    const d = R[i * k + i]!;
    for (let c = 0; c < q; c++) B[i * q + c]! /= d;
  }
  for (let i = k - 1; i >= 0; i--) {
    for (let t = i + 1; t < k; t++) {
      const r = R[i * k + t]!;
      if (r !== 0) for (let c = 0; c < q; c++) B[i * q + c]! -= r * B[t * q + c]!;
    }
    const d = R[i * k + i]!;
    for (let c = 0; c < q; c++) B[i * q + c]! /= d;
  }
  return B;
}

/**
 * Orthonormalises the columns of G in place by CholeskyQR (G ← G R⁻¹ with GᵀG = RᵀR), after
 * projecting out the columns of Q when given. `passes` repeats both (CholeskyQR2 / CGS2).
 * Meant for Gaussian blocks, which are well conditioned (κ ≈ (1 + √(k/n)) / (1 − √(k/n))), so
 * one pass is already orthonormal to ~κ²·eps; a second pass is cheap insurance for k near n.
 */
export function orthonormalize(G: Tall, Q: Tall | undefined, passes: number): Tall {
  let X = G;
  for (let pass = 0; pass < passes; pass++) {
    if (Q && Q.cols > 0) subtractProduct(X, Q, cross(Q, X));
    const R = choleskyUpper(gram(X), X.cols);
    if (!R) throw new Error(`orthonormalize: the ${X.rows}x${X.cols} random block is rank deficient (rank too close to n?)`);
    X = rightSolveUpper(X, R);
  }
  return X;
}

/** Frobenius norm. */
export function frobenius(a: Float64Array): number {
  let s = 0;
  for (let t = 0; t < a.length; t++) s += a[t]! * a[t]!;
  return Math.sqrt(s);
}

/** Column c of A as a new array. */
export function columnOf(A: Tall, c: number): Float64Array {
  const out = new Float64Array(A.rows);
  for (let i = 0; i < A.rows; i++) out[i] = A.data[i * A.cols + c]!;
  return out;
}

/** The columns of A (the data itself for a single column). */
export function columnsOf(A: Tall): Float64Array[] {
  return A.cols === 1 ? [A.data] : Array.from({ length: A.cols }, (_, c) => columnOf(A, c));
}

/** Row-major k×q block as a Tall (k rows); a single column is used as it is. */
export function blockFromColumns(columns: readonly Float64Array[], n: number): Tall {
  if (columns.length === 1 && columns[0]!.length === n) return tall(n, 1, columns[0]!);
  const q = columns.length;
  const out = new Float64Array(n * q);
  for (let c = 0; c < q; c++) {
    const col = columns[c]!;
    for (let i = 0; i < n; i++) out[i * q + c] = col[i]!;
  }
  return tall(n, q, out);
}

/** Standard normal draws from a uniform [0, 1) generator (Box–Muller; both outputs used). */
export function fillGaussian(out: Float64Array, rng: () => number): Float64Array {
  for (let t = 0; t < out.length; t += 2) {
    const u1 = 1 - rng(); // (0, 1]: log is finite
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[t] = r * Math.cos(2 * Math.PI * u2);
    if (t + 1 < out.length) out[t + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
