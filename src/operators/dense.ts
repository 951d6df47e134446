/** Explicit operators: dense matrices, diagonals, the identity and zero. */
import { Matrix } from 'ml-matrix';
import { Block } from './block.js';
import { LinearOperator, type DenseSource } from './linear-operator.js';
import { defaultDenseCacheBytes } from '../cpu/memory-pool.js';
import type { VectorLike } from './types.js';
import {
  assertShape,
  describeValue,
  formatShape,
  matrixToRowMajor,
  rowsToFloat64,
  assertFiniteVector,
  isVectorLike,
} from './validate.js';

export interface DenseOperatorOptions {
  /** Declare Aᵀ = A (checked exactly at construction); then `T` is the operator itself. */
  symmetric?: boolean;
}

// Internal: build a transposed view sharing the stored data (not part of the public constructor).
const TRANSPOSED_VIEW = Symbol('transposedView');
interface InternalDenseOptions extends DenseOperatorOptions {
  [TRANSPOSED_VIEW]?: boolean;
}

/**
 * A float64 dense matrix, stored row-major in one Float64Array (copied at construction, never
 * mutated). The transpose is a view over the same data, so `A.T` costs nothing.
 */
export class DenseOperator extends LinearOperator {
  /** Row-major storage of the matrix as given (rows × cols of `storedShape`). */
  private readonly data: Float64Array;
  /** When true this operator is the transpose of the stored matrix. */
  private readonly transposedView: boolean;

  /**
   * @param source ml-matrix Matrix, number[][] (rectangular, non-empty), or row-major
   *   Float64Array/Float32Array/number[] together with `shape`.
   */
  constructor(source: Matrix | number[][] | Float64Array | Float32Array | number[], shape?: readonly [number, number], options: DenseOperatorOptions = {}) {
    const internal = options as InternalDenseOptions;
    // A transposed view (built by _transpose) shares the already validated data of its original.
    const isView = internal[TRANSPOSED_VIEW] !== undefined && source instanceof Float64Array && shape !== undefined;
    const { data, storedShape } = isView
      ? { data: source, storedShape: [shape[0], shape[1]] as [number, number] }
      : DenseOperator.normalise(source, shape);
    const transposedView = isView && internal[TRANSPOSED_VIEW] === true;
    const viewShape: [number, number] = transposedView ? [storedShape[1], storedShape[0]] : storedShape;
    super(viewShape, 'float64', { symmetric: options.symmetric ?? false });
    if (options.symmetric && !isView) DenseOperator.assertSymmetric(data, storedShape[0]);
    this.data = data;
    this.transposedView = transposedView;
  }

  private static normalise(
    source: unknown,
    shape: readonly [number, number] | undefined,
  ): { data: Float64Array; storedShape: [number, number] } {
    const what = 'DenseOperator';
    if (Matrix.isMatrix(source)) {
      const M = source instanceof Matrix ? source : new Matrix(source);
      if (M.rows === 0 || M.columns === 0) throw new RangeError(`${what}: the Matrix is empty (${M.rows}x${M.columns})`);
      const data = matrixToRowMajor(M);
      assertFiniteVector(data, what, 'matrix (row-major)');
      return { data, storedShape: [M.rows, M.columns] };
    }
    if (shape !== undefined) {
      assertShape(shape, what);
      if (!isVectorLike(source) || (Array.isArray(source) && source.some((v) => typeof v !== 'number'))) {
        throw new TypeError(`${what}: with a shape, expected row-major data (Float64Array, Float32Array or number[]), got ${describeValue(source)}`);
      }
      if (source.length !== shape[0] * shape[1]) {
        throw new RangeError(`${what}: ${source.length} values cannot fill a ${formatShape(shape)} matrix (need ${shape[0] * shape[1]})`);
      }
      assertFiniteVector(source, what, 'matrix (row-major)');
      return { data: Float64Array.from(source), storedShape: [shape[0], shape[1]] };
    }
    if (Array.isArray(source)) {
      const { values, columns } = rowsToFloat64(source, what);
      if (columns === 0) throw new RangeError(`${what}: the number[][] has ${source.length} rows of length 0`);
      return { data: values, storedShape: [source.length, columns] };
    }
    throw new TypeError(`${what}: expected a Matrix, a number[][], or row-major data with a shape, got ${describeValue(source)}`);
  }

  private static assertSymmetric(data: Float64Array, n: number): void {
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const a = data[i * n + j]!;
        const b = data[j * n + i]!;
        if (a !== b) {
          throw new RangeError(`DenseOperator: declared symmetric, but entry (${i}, ${j}) = ${a} differs from (${j}, ${i}) = ${b}`);
        }
      }
    }
  }

  /**
   * A square matrix's entries as they are stored, for a dense factorisation (`solve`'s 'auto' and eigsh's shift-invert):
   * where its float64 factor also fits the dense budget. Without it `aslinearoperator(M).solve(b, 1e-6)` for a 500×500
   * Gaussian kernel matrix ran 5,000 CG iterations and failed, where the factor solves it in 0.02 s.
   */
  override denseSource(): DenseSource | undefined {
    const [n, m] = this.shape;
    if (n !== m || 8 * n * n > defaultDenseCacheBytes()) return undefined;
    const { data, transposedView } = this;
    return {
      // rows of the view from the diagonal on (a transposed view's are stored columns)
      rows: async () => (i) => (transposedView ? { values: Float64Array.from({ length: n - i }, (_, t) => data[(i + t) * n + i]!), first: i } : { values: data.subarray(i * n, i * n + n), first: 0 }),
      operator: this,
    };
  }

  /** Entry (i, j) of this operator (respecting the transposed view). */
  get(i: number, j: number): number {
    const cols = this.transposedView ? this.shape[0] : this.shape[1];
    return this.transposedView ? this.data[j * cols + i]! : this.data[i * cols + j]!;
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    const [m, n] = this.shape;
    const a = this.data;
    if (!this.transposedView) {
      // y_i = Σ_j a_ij x_j: a dot product along each stored row.
      const y = new Float64Array(m);
      for (let i = 0; i < m; i++) {
        let s = 0;
        const base = i * n;
        for (let j = 0; j < n; j++) s += a[base + j]! * x[j]!;
        y[i] = s;
      }
      return y;
    }
    // Aᵀx over the stored n×m matrix B: y += x_r · (row r of B), reading B row by row.
    const y = new Float64Array(m);
    for (let r = 0; r < n; r++) {
      const xr = x[r]!;
      if (xr === 0) continue;
      const base = r * m;
      for (let i = 0; i < m; i++) y[i]! += a[base + i]! * xr;
    }
    return y;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    const [m, n] = this.shape;
    const k = X.cols;
    const a = this.data;
    const x = X.data; // column-major: column c at x[c·n, (c+1)·n)
    const Y = Block.zeros(m, k);
    const y = Y.data;
    if (!this.transposedView) {
      // y_ic = Σ_l a_il x_lc: each stored row, while in cache, meets every column as a contiguous dot product
      for (let i = 0; i < m; i++) {
        const aBase = i * n;
        for (let c = 0; c < k; c++) {
          const xBase = c * n;
          let s = 0;
          for (let l = 0; l < n; l++) s += a[aBase + l]! * x[xBase + l]!;
          y[c * m + i] = s;
        }
      }
    } else {
      // Y = BᵀX for the stored n×m matrix B: column c of Y += x_rc · (row r of B), reading B row by row.
      for (let r = 0; r < n; r++) {
        const aBase = r * m;
        for (let c = 0; c < k; c++) {
          const xrc = x[c * n + r]!;
          if (xrc === 0) continue;
          const yBase = c * m;
          for (let i = 0; i < m; i++) y[yBase + i]! += a[aBase + i]! * xrc;
        }
      }
    }
    return Y;
  }

  protected override _transpose(): LinearOperator {
    const storedShape: [number, number] = this.transposedView ? [this.shape[1], this.shape[0]] : [this.shape[0], this.shape[1]];
    const options: InternalDenseOptions = { [TRANSPOSED_VIEW]: !this.transposedView };
    return new DenseOperator(this.data, storedShape, options);
  }

  /** The main diagonal (min(rows, cols) entries, as numpy's `diagonal()`). */
  override async diagonal(): Promise<Float64Array> {
    const k = Math.min(this.shape[0], this.shape[1]);
    const d = new Float64Array(k);
    for (let i = 0; i < k; i++) d[i] = this.get(i, i);
    return d;
  }

  override async toDense(): Promise<Matrix> {
    const [m, n] = this.shape;
    const M = new Matrix(m, n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) M.set(i, j, this.get(i, j));
    return M;
  }
}

/** diag(d): symmetric, exact diagonal, O(n) products. */
export class DiagonalOperator extends LinearOperator {
  private readonly d: Float64Array;

  constructor(d: VectorLike) {
    if (!isVectorLike(d) || d.length === 0) {
      throw new TypeError(`DiagonalOperator: expected a non-empty vector (Float64Array, Float32Array or number[]), got ${describeValue(d)}`);
    }
    assertFiniteVector(d, 'DiagonalOperator', 'diagonal');
    super([d.length, d.length], 'float64', { symmetric: true });
    this.d = Float64Array.from(d);
  }

  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    const y = new Float64Array(x.length);
    for (let i = 0; i < y.length; i++) y[i] = this.d[i]! * x[i]!;
    return y;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    const Y = Block.zeros(X.rows, X.cols);
    const n = X.rows;
    for (let t = 0; t < Y.data.length; t++) Y.data[t] = this.d[t % n]! * X.data[t]!;
    return Y;
  }

  override async diagonal(): Promise<Float64Array> {
    return Float64Array.from(this.d);
  }

  override diagonalEntries(): Float64Array {
    return this.d;
  }

  override async toDense(): Promise<Matrix> {
    return Matrix.diag(this.d);
  }
}

/** The n×n identity. */
export class IdentityOperator extends LinearOperator {
  constructor(n: number) {
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
      throw new RangeError(`IdentityOperator: n must be a positive integer, got ${describeValue(n)}`);
    }
    super([n, n], 'float64', { symmetric: true });
  }

  override diagonalEntries(): Float64Array {
    return new Float64Array(this.shape[0]).fill(1);
  }

  // Copies: results are owned by the caller, inputs are never aliased.
  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    return Float64Array.from(x);
  }

  protected override async _matmat(X: Block): Promise<Block> {
    return X.clone();
  }

  override async diagonal(): Promise<Float64Array> {
    return new Float64Array(this.shape[0]).fill(1);
  }

  override async toDense(): Promise<Matrix> {
    return Matrix.eye(this.shape[0]);
  }
}

/** The zero operator of any shape (a neutral element for sums, and a cheap placeholder). */
export class ZeroOperator extends LinearOperator {
  constructor(shape: readonly [number, number]) {
    assertShape(shape, 'ZeroOperator');
    super(shape, 'float64', { symmetric: shape[0] === shape[1] });
  }

  protected override async _matvec(_x: Float64Array): Promise<Float64Array> {
    return new Float64Array(this.shape[0]);
  }

  protected override async _matmat(X: Block): Promise<Block> {
    return Block.zeros(this.shape[0], X.cols);
  }

  protected override _transpose(): LinearOperator {
    return new ZeroOperator([this.shape[1], this.shape[0]]);
  }

  override async diagonal(): Promise<Float64Array> {
    return new Float64Array(Math.min(this.shape[0], this.shape[1]));
  }

  override async toDense(): Promise<Matrix> {
    return new Matrix(this.shape[0], this.shape[1]);
  }
}
