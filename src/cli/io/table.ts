/** The one in-memory shape files are read into and written from: a dense row-major n×d block. */
import { Matrix } from 'ml-matrix';

export interface Table {
  readonly rows: number;
  readonly cols: number;
  /** Row-major values. */
  readonly data: Float64Array | Int32Array;
  /** Column names (a CSV header), when the file had them or the command chose them. */
  readonly columns?: readonly string[];
}

/**
 * What a command needs of a file beyond finite numbers, checked while it is read, so that a refusal names the place
 * in the file (line and column, or byte offset) rather than the table as a whole.
 */
export interface Expectation {
  /** What is needed, in words for the messages: 'one column of 50 labels (one per point) is needed'. */
  readonly need: string;
  readonly rows?: number;
  readonly cols?: number;
  /** Why a value is refused (undefined: taken); `text` is the cell as written (CSV) or the value printed (.npy). */
  readonly value?: (value: number, text: string) => string | undefined;
}

/** A table of one column. */
export function columnTable(values: Float64Array | Int32Array, name: string): Table {
  return { rows: values.length, cols: 1, data: values, columns: [name] };
}

/** Row-major copy of an ml-matrix Matrix. */
export function matrixTable(m: Matrix, columns?: readonly string[]): Table {
  const data = new Float64Array(m.rows * m.columns);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.columns; j++) data[i * m.columns + j] = m.get(i, j);
  return { rows: m.rows, cols: m.columns, data, ...(columns ? { columns } : {}) };
}

/** Columns [from, to) of a table, as a new row-major Float64Array table. */
export function sliceColumns(t: Table, from: number, to: number): Table {
  const cols = to - from;
  const data = new Float64Array(t.rows * cols);
  for (let i = 0; i < t.rows; i++) for (let j = 0; j < cols; j++) data[i * cols + j] = t.data[i * t.cols + from + j]!;
  return { rows: t.rows, cols, data, ...(t.columns ? { columns: t.columns.slice(from, to) } : {}) };
}

/** The table as the library's PointsLike object form (no copy for Float64 data). */
export function asPoints(t: Table): { data: Float64Array; rows: number; cols: number } {
  return { data: t.data instanceof Float64Array ? t.data : Float64Array.from(t.data), rows: t.rows, cols: t.cols };
}
