/**
 * Point sets as users hand them to us, normalised to the one layout every backend reads:
 * a row-major Float64Array copy (copied so later mutation of the caller's array cannot change a
 * formula that was already built, and so the emitted code never sees a Float32Array).
 */
import { Matrix } from 'ml-matrix';
import type { BoundData } from './ast.js';
import { FormulaError, describeArgument } from './errors.js';

/** A flat row-major block of n points in d dimensions. */
export interface FlatPoints {
  readonly data: Float32Array | Float64Array;
  readonly rows: number;
  readonly cols: number;
}

/**
 * n×d points: `number[][]` (one row per point), an ml-matrix `Matrix`, or a flat row-major block.
 * A plain `number[]` is read as n points in one dimension (n×1) — the natural input for 1-D
 * interpolation, and friendlier than an error.
 */
export type PointsLike = number[][] | number[] | Matrix | FlatPoints;

function checkFinite(value: unknown, row: number, col: number, name: string): number {
  if (typeof value !== 'number') {
    throw new FormulaError(
      `${name}: value at row ${row}, column ${col} is not a number (got ${describeArgument(value)})`,
    );
  }
  if (!Number.isFinite(value)) {
    throw new FormulaError(
      `${name}: non-finite value ${String(value)} at row ${row}, column ${col}`,
    );
  }
  return value;
}

function checkShape(rows: number, cols: number, name: string): void {
  if (rows === 0) throw new FormulaError(`${name}: empty point set (0 rows)`);
  if (cols === 0) throw new FormulaError(`${name}: points have 0 columns (dimension 0)`);
}

function freezeBound(data: Float64Array, rows: number, cols: number): BoundData {
  return Object.freeze({ data, rows, cols });
}

/** A row given as a typed array (Float64Array rows): named, with the layouts that are accepted. */
function typedRow(row: unknown, r: number, name: string): FormulaError | undefined {
  if (!ArrayBuffer.isView(row)) return undefined;
  return new FormulaError(`${name}: row ${r} is a ${row.constructor.name}; expected number[] rows (Array.from(row)) or { data, rows, cols }`);
}

function fromArray(p: readonly unknown[], name: string): BoundData {
  if (p.length === 0) throw new FormulaError(`${name}: empty point set (0 rows)`);
  const typed = typedRow(p[0], 0, name);
  if (typed) throw typed;
  if (!Array.isArray(p[0])) {
    // number[]: n points in one dimension.
    const data = new Float64Array(p.length);
    for (let r = 0; r < p.length; r++) {
      const t = typedRow(p[r], r, name);
      if (t) throw t;
      if (Array.isArray(p[r])) {
        throw new FormulaError(
          `${name}: mixed input: row 0 is a number (read as 1-D points) but row ${r} is an array`,
        );
      }
      data[r] = checkFinite(p[r], r, 0, name);
    }
    return freezeBound(data, p.length, 1);
  }
  const rows = p.length;
  const cols = (p[0] as unknown[]).length;
  checkShape(rows, cols, name);
  const data = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = p[r];
    if (!Array.isArray(row)) {
      throw typedRow(row, r, name) ?? new FormulaError(`${name}: row ${r} is not an array (got ${describeArgument(row)})`);
    }
    if (row.length !== cols) {
      throw new FormulaError(
        `${name}: ragged rows: row ${r} has ${row.length} values but row 0 has ${cols}`,
      );
    }
    for (let c = 0; c < cols; c++) data[r * cols + c] = checkFinite(row[c], r, c, name);
  }
  return freezeBound(data, rows, cols);
}

function fromMatrix(m: Matrix, name: string): BoundData {
  const rows = m.rows;
  const cols = m.columns;
  checkShape(rows, cols, name);
  const data = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) data[r * cols + c] = checkFinite(m.get(r, c), r, c, name);
  }
  return freezeBound(data, rows, cols);
}

function isFlatPoints(p: unknown): p is FlatPoints {
  return (
    typeof p === 'object' && p !== null &&
    'data' in p && 'rows' in p && 'cols' in p
  );
}

function fromFlat(p: FlatPoints, name: string): BoundData {
  const { rows, cols, data } = p;
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new FormulaError(
      `${name}: rows and cols must be non-negative integers (got rows=${String(rows)}, cols=${String(cols)})`,
    );
  }
  if (!(data instanceof Float64Array || data instanceof Float32Array)) {
    throw new FormulaError(`${name}: data must be a Float64Array or Float32Array`);
  }
  checkShape(rows, cols, name);
  if (data.length !== rows * cols) {
    throw new FormulaError(
      `${name}: data has length ${data.length} but rows·cols = ${rows}·${cols} = ${rows * cols}`,
    );
  }
  const copy = new Float64Array(data); // typed entries are numbers: only finiteness is left to check
  for (let k = 0; k < copy.length; k++) {
    // the position is formed only for the message: per entry it cost more than the copy
    if (!Number.isFinite(copy[k]!)) checkFinite(copy[k], Math.floor(k / cols), k % cols, name);
  }
  return freezeBound(copy, rows, cols);
}

/**
 * The points of `p` for a caller that reads them once and binds a copy of its own (the kernels' scaled points): a
 * flat Float64Array block is checked in shape only and its array shared, not copied — `checked: false` leaves the
 * finiteness of its entries to the caller, which calls `toBoundData(p, name)` for the error when it meets a
 * non-finite one. Any other input is `toBoundData`'s copy (`checked: true`).
 */
export function readPoints(p: PointsLike, name: string): { bound: BoundData; checked: boolean } {
  if (!Array.isArray(p) && !Matrix.isMatrix(p) && isFlatPoints(p) && p.data instanceof Float64Array) {
    const { rows, cols, data } = p;
    if (Number.isInteger(rows) && rows > 0 && Number.isInteger(cols) && cols > 0 && data.length === rows * cols) {
      return { bound: { data, rows, cols }, checked: false };
    }
  }
  return { bound: toBoundData(p, name), checked: true };
}

/** Validate `p` and copy it into a frozen row-major Float64Array binding. `name` prefixes errors. */
export function toBoundData(p: PointsLike, name: string): BoundData {
  if (Array.isArray(p)) return fromArray(p, name);
  if (Matrix.isMatrix(p)) return fromMatrix(p as Matrix, name);
  if (isFlatPoints(p)) return fromFlat(p, name);
  throw new FormulaError(
    `${name}: expected points as number[][], number[], an ml-matrix Matrix or { data, rows, cols } (got ${p === null ? 'null' : typeof p})`,
  );
}
