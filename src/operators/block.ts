/**
 * The library's one block type: n×k vectors stored column-major in one Float64Array, column j at
 * data[j·rows, (j+1)·rows). Blocks travel from the products (the `_matmat` hooks and the backends, whose
 * buffers are column-major already) through the Krylov solvers and the preconditioners; an ml-matrix
 * `Matrix` (an array of row arrays) is built only at the public boundary, where `matmat` returns one.
 */
import { Matrix } from 'ml-matrix';

export class Block {
  /** Column-major entries: (i, j) is data[j·rows + i]. */
  readonly data: Float64Array;
  readonly rows: number;
  readonly cols: number;

  /** Wraps `data` (not copied) as a rows×cols column-major block. */
  constructor(data: Float64Array, rows: number, cols: number) {
    if (!(data instanceof Float64Array) || data.length !== rows * cols) {
      throw new RangeError(`Block: ${data?.length} values cannot fill a ${rows}x${cols} block`);
    }
    this.data = data;
    this.rows = rows;
    this.cols = cols;
  }

  static zeros(rows: number, cols: number): Block {
    return new Block(new Float64Array(rows * cols), rows, cols);
  }

  /** The n×n identity. */
  static eye(n: number): Block {
    const B = Block.zeros(n, n);
    for (let i = 0; i < n; i++) B.data[i * n + i] = 1;
    return B;
  }

  /** A block of the given columns (copied; all of length `rows`, default the first one's). */
  static fromColumns(columns: readonly ArrayLike<number>[], rows = columns[0]?.length ?? 0): Block {
    const B = Block.zeros(rows, columns.length);
    columns.forEach((c, j) => {
      if (c.length !== rows) throw new RangeError(`Block.fromColumns: column ${j} has length ${c.length}, expected ${rows}`);
      B.data.set(c, j * rows);
    });
    return B;
  }

  /**
   * A block of freshly computed columns that nobody else holds (a backend's results): wrapped without a copy where
   * they are consecutive views of one buffer, as the backends' column-major outputs are; copied otherwise.
   */
  static adoptColumns(columns: readonly Float64Array[], rows: number): Block {
    const first = columns[0];
    const whole = first !== undefined && first.byteOffset === 0 && first.buffer.byteLength === columns.length * rows * 8
      && columns.every((c, j) => c.buffer === first.buffer && c.length === rows && c.byteOffset === j * rows * 8);
    return whole ? new Block(new Float64Array(first.buffer, 0, columns.length * rows), rows, columns.length) : Block.fromColumns(columns, rows);
  }

  /** A copy of an ml-matrix Matrix (read through its row arrays where it has them: views do not). */
  static fromMatrix(M: Matrix): Block {
    const { rows, columns: cols } = M;
    const B = Block.zeros(rows, cols);
    const d = B.data;
    const rowArrays = matrixRows(M);
    for (let i = 0; i < rows; i++) {
      const row = rowArrays ? rowArrays[i]! : M.getRow(i);
      for (let j = 0; j < cols; j++) d[j * rows + i] = row[j]!;
    }
    return B;
  }

  /** A copy of row-major rows×cols data. */
  static fromRowMajor(values: ArrayLike<number>, rows: number, cols: number): Block {
    if (values.length !== rows * cols) throw new RangeError(`Block.fromRowMajor: ${values.length} values cannot fill a ${rows}x${cols} block`);
    if (cols === 1) return new Block(Float64Array.from(values), rows, 1);
    const B = Block.zeros(rows, cols);
    const d = B.data;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) d[j * rows + i] = values[i * cols + j]!;
    return B;
  }

  /** Column j as a view (no copy: writing to it writes the block). */
  column(j: number): Float64Array {
    return this.data.subarray(j * this.rows, (j + 1) * this.rows);
  }

  /** All columns as views. */
  columns(): Float64Array[] {
    return Array.from({ length: this.cols }, (_, j) => this.column(j));
  }

  clone(): Block {
    return new Block(Float64Array.from(this.data), this.rows, this.cols);
  }

  /** The entries row-major (a fresh array). */
  toRowMajor(): Float64Array {
    const { rows, cols, data } = this;
    if (cols === 1) return Float64Array.from(data);
    const out = new Float64Array(rows * cols);
    for (let j = 0; j < cols; j++) {
      const base = j * rows;
      for (let i = 0; i < rows; i++) out[i * cols + j] = data[base + i]!;
    }
    return out;
  }

  /**
   * The block as an ml-matrix Matrix (a copy). Its rows are views into one row-major buffer rather than one
   * allocation per row: a 10⁶×4 Matrix is built about twice as fast so (bench/block-flow.mjs), and it behaves as
   * any Matrix (ml-matrix keeps its rows as Float64Arrays in `data`).
   */
  toMatrix(): Matrix {
    const { rows, cols } = this;
    const flat = this.toRowMajor();
    const M = new Matrix(0, cols);
    const target = M as unknown as { data: Float64Array[]; rows: number };
    if (!Array.isArray(target.data)) return fillMatrix(new Matrix(rows, cols), flat); // another ml-matrix layout
    const rowViews = new Array<Float64Array>(rows);
    for (let i = 0; i < rows; i++) rowViews[i] = flat.subarray(i * cols, (i + 1) * cols);
    target.data = rowViews;
    target.rows = rows;
    return M;
  }
}

/** ml-matrix keeps a plain Matrix as Float64Array rows (`data`, untyped in its d.ts); views do not. */
function matrixRows(M: Matrix): Float64Array[] | null {
  const data = (M as unknown as { data?: unknown }).data;
  return Array.isArray(data) && data.length === M.rows && data[0] instanceof Float64Array ? (data as Float64Array[]) : null;
}

function fillMatrix(M: Matrix, rowMajor: Float64Array): Matrix {
  for (let i = 0; i < M.rows; i++) for (let j = 0; j < M.columns; j++) M.set(i, j, rowMajor[i * M.columns + j]!);
  return M;
}
