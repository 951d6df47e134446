/**
 * Input normalisation shared by every operator: one place that turns user data into
 * Float64Array / ml-matrix Matrix and says exactly what was wrong (shapes and values quoted).
 */
import { Matrix } from 'ml-matrix';
import type { BlockLike, VectorLike } from './types.js';
import { Block } from './block.js';
import { allFiniteInProgram } from '../cpu/vector-sums.js';

/** "2000x3" */
export function formatShape(shape: readonly [number, number]): string {
  return `${shape[0]}x${shape[1]}`;
}

/** A short human description of an unexpected value, for TypeErrors. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `a string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${String(value)}`;
  }
  if (typeof value === 'function') return `a function${value.name ? ` ${value.name}` : ''}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    return `${article(value.constructor.name)} ${value.constructor.name}${'length' in value ? ` of length ${(value as unknown as { length: number }).length}` : ''}`;
  }
  if (Matrix.isMatrix(value)) return `a ${value.rows}x${value.columns} Matrix`;
  if (value instanceof Block) return `a ${value.rows}x${value.cols} Block`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    // a class that describes itself (a LinearOperator: "<5x5 ScaledOperator(…) float64>") says more than its keys
    const own = (value as { toString?: unknown }).toString;
    if (name && name !== 'Object' && typeof own === 'function' && own !== Object.prototype.toString) {
      const text = String(value);
      return `${article(name)} ${name} ${text.length > 120 ? `${text.slice(0, 119)}…` : text}`;
    }
    const keys = Object.keys(value as object);
    const keyText = `keys [${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''}]`;
    return name && name !== 'Object' ? `${article(name)} ${name} with ${keyText}` : `an object with ${keyText}`;
  }
  return typeof value;
}

/** "an" before a vowel sound's letter (an Int32Array, an Uint… is rare: by the first letter), else "a". */
const article = (word: string): string => (/^[AEIOaeio]/.test(word) ? 'an' : 'a');

function describeEntry(value: unknown): string {
  return typeof value === 'number' ? String(value) : describeValue(value);
}

/** A vector-like value: Float64Array, Float32Array or number[] (not other typed arrays, which are likely mistakes). */
export function isVectorLike(value: unknown): value is VectorLike {
  return value instanceof Float64Array || value instanceof Float32Array || Array.isArray(value);
}

/** A block-like value (an ml-matrix Matrix or a number[][]), as opposed to a vector: the first row is an array. */
export function isBlockLike(value: unknown): value is BlockLike {
  return Matrix.isMatrix(value) || (Array.isArray(value) && value.length > 0 && Array.isArray(value[0]));
}

/** Whether every entry is finite: a plain loop (`every(Number.isFinite)`, a callback per entry, took 0.88 ms per 65,536 entries on the dev VM; this 0.10). */
export function allFinite(a: ArrayLike<number>): boolean {
  // long float64 vectors by a fixed program: the loop ran cold in a fresh process, a boxed double an entry
  const checked = a instanceof Float64Array ? allFiniteInProgram(a) : undefined;
  return checked ?? firstNonFinite(a) < 0;
}

/** The index of the first entry that is not finite, or −1 (a plain loop, as `allFinite`). */
export function firstNonFinite(a: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

/** Throws naming the first non-finite entry of `v` (index and value). */
export function assertFiniteVector(v: ArrayLike<unknown>, what: string, noun = 'vector'): void {
  for (let i = 0; i < v.length; i++) {
    const value = v[i];
    if (typeof value !== 'number') {
      throw new TypeError(`${what}: entry ${i} of the ${noun} is ${describeEntry(value)}, expected a number`);
    }
    if (!Number.isFinite(value)) {
      throw new RangeError(`${what}: entry ${i} of the ${noun} is ${value}; entries must be finite`);
    }
  }
}

/**
 * Checks length and finiteness and returns a fresh Float64Array, so an operator never aliases
 * (or mutates) the caller's buffer.
 */
export function toVector(x: VectorLike, n: number, what: string): Float64Array {
  if (Array.isArray(x) && x.length > 0 && Array.isArray(x[0])) {
    // a number[][] where one right-hand side is taken: said as the block it is ("entry 0 … is an array" before)
    throw new TypeError(`${what}: expected a vector (Float64Array, Float32Array or number[]) of length ${n}, got a ${x.length}x${(x[0] as unknown[]).length} number[][] (a block)`);
  }
  if (!isVectorLike(x)) {
    throw new TypeError(`${what}: expected a vector (Float64Array, Float32Array or number[]) of length ${n}, got ${describeValue(x)}`);
  }
  if (x.length !== n) {
    throw new RangeError(`${what}: expected a vector of length ${n}, got length ${x.length}`);
  }
  assertFiniteVector(x, what);
  return Float64Array.from(x);
}

/**
 * Checks that `X` is an n×k block with `rows` rows and finite entries, and returns it as a column-major
 * Block (always a copy: operators never alias the caller's data).
 */
export function toBlock(X: BlockLike, rows: number, what: string): Block {
  if (Matrix.isMatrix(X)) {
    if (X.rows !== rows) {
      throw new RangeError(`${what}: expected a block with ${rows} rows, got a ${X.rows}x${X.columns} Matrix`);
    }
    const B = Block.fromMatrix(X as Matrix);
    assertFiniteBlock(B, what);
    return B;
  }
  if (!Array.isArray(X)) {
    throw new TypeError(`${what}: expected a block (ml-matrix Matrix or number[][]) with ${rows} rows, got ${describeValue(X)}`);
  }
  const data = rowsToFloat64(X, what);
  if (X.length !== rows) {
    throw new RangeError(`${what}: expected a block with ${rows} rows, got a ${X.length}x${data.columns} number[][]`);
  }
  return Block.fromRowMajor(data.values, X.length, data.columns);
}

/**
 * B, refused where it has no columns: an n×0 right-hand side, which `matmat` takes (an n×0 product) but a solve has
 * nothing to plan for — it reached cg, whose error named cg, not the call made.
 */
export function atLeastOneColumn(B: Block, fn: string): Block {
  if (B.cols === 0) throw new RangeError(`${fn}: b is a ${B.rows}×0 block: no right-hand side to solve for (give at least one column)`);
  return B;
}

/** Throws naming the first non-finite entry of B (in row order, as the user wrote the block). */
export function assertFiniteBlock(B: Block, what: string): void {
  const { data, rows, cols } = B;
  if (allFiniteInProgram(data)) return;
  for (let t = 0; t < data.length; t++) {
    if (Number.isFinite(data[t]!)) continue;
    let first = t;
    for (let u = t; u < data.length; u++) {
      if (!Number.isFinite(data[u]!) && (u % rows) * cols + Math.floor(u / rows) < (first % rows) * cols + Math.floor(first / rows)) first = u;
    }
    throw new RangeError(`${what}: entry (${first % rows}, ${Math.floor(first / rows)}) of the block is ${data[first]}; entries must be finite`);
  }
}

/**
 * Validates a number[][] (non-empty, rectangular, finite numbers) and returns it row-major.
 * Used for blocks and for dense operators given as nested arrays.
 */
export function rowsToFloat64(rows: unknown[], what: string): { values: Float64Array; columns: number } {
  if (rows.length === 0) {
    throw new RangeError(`${what}: got an empty number[][] (0 rows); its shape is unknown`);
  }
  const first = rows[0];
  if (!isVectorLike(first)) {
    throw new TypeError(`${what}: row 0 of the number[][] is ${describeValue(first)}, expected an array of numbers`);
  }
  const columns = first.length;
  const values = new Float64Array(rows.length * columns);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!isVectorLike(row)) {
      throw new TypeError(`${what}: row ${i} of the number[][] is ${describeValue(row)}, expected an array of numbers`);
    }
    if (row.length !== columns) {
      throw new RangeError(`${what}: ragged number[][]: row ${i} has length ${row.length}, but row 0 has length ${columns}`);
    }
    for (let j = 0; j < columns; j++) {
      const value: unknown = row[j];
      if (typeof value !== 'number') {
        throw new TypeError(`${what}: entry (${i}, ${j}) is ${describeEntry(value)}, expected a number`);
      }
      if (!Number.isFinite(value)) {
        throw new RangeError(`${what}: entry (${i}, ${j}) is ${value}; entries must be finite`);
      }
      values[i * columns + j] = value;
    }
  }
  return { values, columns };
}

/** Copies a Matrix into a row-major Float64Array (the layout fast loops and GPU buffers want). */
export function matrixToRowMajor(M: Matrix): Float64Array {
  const rows = M.rows;
  const cols = M.columns;
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    for (let j = 0; j < cols; j++) out[base + j] = M.get(i, j);
  }
  return out;
}

/** Throws unless `shape` is a pair of positive integers. */
export function assertShape(shape: unknown, what: string): asserts shape is [number, number] {
  const ok =
    (Array.isArray(shape) || (typeof shape === 'object' && shape !== null && 'length' in shape)) &&
    (shape as ArrayLike<unknown>).length === 2 &&
    Array.from(shape as ArrayLike<unknown>).every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0);
  if (!ok) {
    const text = Array.isArray(shape) ? `[${shape.map((d) => describeEntry(d)).join(', ')}]` : describeValue(shape);
    throw new RangeError(`${what}: shape must be [rows, cols] with positive integers, got ${text}`);
  }
}

/** Throws unless c is a finite number. */
export function assertFiniteScalar(c: unknown, what: string): asserts c is number {
  if (typeof c !== 'number') throw new TypeError(`${what}: expected a finite number, got ${describeValue(c)}`);
  if (!Number.isFinite(c)) throw new RangeError(`${what}: expected a finite number, got ${c}`);
}

/**
 * What a user's callback returned, awaited where it is a promise (an async callback): its rejection then rejects the
 * call that made it — left unawaited, it was an unhandled rejection that ended the process.
 */
export async function settleCallback(result: unknown): Promise<void> {
  if (result !== null && (typeof result === 'object' || typeof result === 'function') && typeof (result as PromiseLike<unknown>).then === 'function') {
    await result;
  }
}
