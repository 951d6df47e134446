/** aslinearoperator: the one entry point that turns user data into a LinearOperator. */
import { Matrix } from 'ml-matrix';
import { Block } from './block.js';
import { LinearOperator } from './linear-operator.js';
import { DenseOperator } from './dense.js';
import { Formula } from '../formula/builder.js';
import { KernelOperator } from './kernel-operator.js';
import type { Dtype } from './types.js';
import { any, boolean, func, oneOf, optional, rejectUnknownKeys, string, type OptionField } from './options.js';
import {
  assertShape,
  describeValue,
  formatShape,
  isVectorLike,
  rowsToFloat64,
  toBlock,
} from './validate.js';

/** What a user function may return for a vector: it is normalised to a Float64Array. */
export type VectorResult = Float64Array | Float32Array | number[] | Matrix;
/** What a user function may return for a block: it is normalised to an ml-matrix Matrix. */
export type BlockResult = Matrix | number[][];

type MaybePromise<T> = T | Promise<T>;

/** A custom operator given by functions; it needs `shape` and `matvec` or `matmat`, the rest derives. */
export interface OperatorSpec {
  shape: readonly [number, number];
  matvec?: (x: Float64Array) => MaybePromise<VectorResult>;
  rmatvec?: (x: Float64Array) => MaybePromise<VectorResult>;
  matmat?: (X: Matrix) => MaybePromise<BlockResult>;
  rmatmat?: (X: Matrix) => MaybePromise<BlockResult>;
  dtype?: Dtype;
  /** Declare Aᵀ = A (not checked): rmatvec then is matvec. */
  symmetric?: boolean;
  /** Shown by toString(), default "FunctionOperator". */
  name?: string;
}

/**
 * The keys of an operator object, each value checked by its field; any other own key is refused by name (its
 * functions are called unbound, so state belongs in their closures, not beside them).
 */
const OPERATOR_SPEC_FIELDS = {
  shape: any,
  matvec: optional(func),
  rmatvec: optional(func),
  matmat: optional(func),
  rmatmat: optional(func),
  dtype: optional(oneOf('float32', 'float64')),
  symmetric: optional(boolean),
  name: optional(string),
} satisfies Record<keyof OperatorSpec, OptionField<unknown>>;

function checkOperatorSpec(spec: Record<string, unknown>): void {
  rejectUnknownKeys('aslinearoperator', spec, Object.keys(OPERATOR_SPEC_FIELDS), 'the operator object');
  for (const [key, f] of Object.entries(OPERATOR_SPEC_FIELDS)) {
    if (spec[key] !== undefined) f.check(spec[key], `aslinearoperator: ${key}`);
  }
}

/** Normalises a user function's vector result, checking its type and length. */
function vectorResult(value: unknown, length: number, source: string): Float64Array {
  if (Matrix.isMatrix(value)) {
    if (value.columns === 1 && value.rows === length) return Float64Array.from((value as Matrix).getColumn(0));
    if (value.rows === 1 && value.columns === length) return Float64Array.from((value as Matrix).getRow(0));
    throw new RangeError(`${source} returned a ${value.rows}x${value.columns} Matrix, expected a vector of length ${length}`);
  }
  if (!isVectorLike(value)) {
    throw new TypeError(`${source} returned ${describeValue(value)}, expected a Float64Array, Float32Array or number[] of length ${length}`);
  }
  if (value.length !== length) {
    throw new RangeError(`${source} returned a vector of length ${value.length}, expected length ${length}`);
  }
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number') throw new TypeError(`${source} returned ${describeValue(v)} at entry ${i}, expected a number`);
    out[i] = v;
  }
  return out;
}

/** Normalises a user function's block result (copied into a Block), checking its shape. */
function blockResult(value: unknown, rows: number, cols: number, source: string): Block {
  if (!Matrix.isMatrix(value) && !Array.isArray(value)) {
    throw new TypeError(`${source} returned ${describeValue(value)}, expected a ${rows}x${cols} Matrix or number[][]`);
  }
  // toBlock checks rows and finiteness, and copies: we never hand the user's Matrix back aliased
  const B = toBlock(value as Matrix | number[][], rows, source);
  if (B.cols !== cols) {
    throw new RangeError(`${source} returned a ${B.rows}x${B.cols} block, expected ${rows}x${cols}`);
  }
  return B;
}

/** A LinearOperator built from user functions (sync or async). */
export class FunctionOperator extends LinearOperator {
  private readonly spec: OperatorSpec;

  constructor(spec: OperatorSpec) {
    super(spec.shape, spec.dtype ?? 'float64', { symmetric: spec.symmetric ?? false });
    this.spec = spec;
  }

  // Each call hands the user a copy: user code may mutate its argument without harming our caller.
  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    const { matvec, matmat } = this.spec;
    const m = this.shape[0];
    if (matvec) return vectorResult(await matvec(Float64Array.from(x)), m, `matvec of ${this}`);
    return blockResult(await matmat!(new Block(x, x.length, 1).toMatrix()), m, 1, `matmat of ${this}`).data;
  }

  protected override async _matmat(X: Block): Promise<Block> {
    const { matmat } = this.spec;
    if (matmat) return blockResult(await matmat(X.toMatrix()), this.shape[0], X.cols, `matmat of ${this}`);
    return this.columnByColumn(X, (x) => this._matvec(x), this.shape[0]);
  }

  protected override async _rmatvec(x: Float64Array): Promise<Float64Array> {
    const { rmatvec, rmatmat } = this.spec;
    const n = this.shape[1];
    if (rmatvec) return vectorResult(await rmatvec(Float64Array.from(x)), n, `rmatvec of ${this}`);
    if (rmatmat) return blockResult(await rmatmat(new Block(x, x.length, 1).toMatrix()), n, 1, `rmatmat of ${this}`).data;
    throw this.noTransposeError();
  }

  protected override async _rmatmat(X: Block): Promise<Block> {
    const { rmatvec, rmatmat } = this.spec;
    if (rmatmat) return blockResult(await rmatmat(X.toMatrix()), this.shape[1], X.cols, `rmatmat of ${this}`);
    if (rmatvec) return this.columnByColumn(X, (x) => this._rmatvec(x), this.shape[1]);
    throw this.noTransposeError();
  }

  private async columnByColumn(X: Block, apply: (x: Float64Array) => Promise<Float64Array>, rows: number): Promise<Block> {
    const Y = Block.zeros(rows, X.cols);
    for (let j = 0; j < X.cols; j++) Y.data.set(await apply(X.column(j)), j * rows);
    return Y;
  }

  protected override describe(): string {
    return this.spec.name ?? 'FunctionOperator';
  }
}

/**
 * Wraps anything operator-like as a LinearOperator:
 *  - a LinearOperator is returned as is;
 *  - an ml-matrix Matrix or a number[][] becomes a DenseOperator;
 *  - an object `{ shape, matvec | matmat, rmatvec?, rmatmat?, dtype?, symmetric? }` becomes a FunctionOperator;
 *  - a scalar builder `Formula` (KeOps' LazyTensor) becomes its KernelOperator (`F.toOperator()`: the same one each
 *    time), symmetric where `isStructurallySymmetric` says so.
 */
// The OperatorSpec overload comes first so that inline functions get their parameter types.
export function aslinearoperator(A: OperatorSpec): LinearOperator;
export function aslinearoperator(A: LinearOperator | Matrix | number[][] | OperatorSpec | Formula): LinearOperator;
export function aslinearoperator(A: LinearOperator | Matrix | number[][] | OperatorSpec | Formula): LinearOperator {
  if (A instanceof LinearOperator) return A;
  if (A instanceof Formula) return A.toOperator() as KernelOperator;
  if (Matrix.isMatrix(A)) return new DenseOperator(A as Matrix);
  if (Array.isArray(A)) {
    // Validated here so that errors name aslinearoperator (empty, ragged, non-numeric, non-finite).
    const { values, columns } = rowsToFloat64(A, 'aslinearoperator');
    if (columns === 0) throw new RangeError(`aslinearoperator: the number[][] has ${A.length} rows of length 0`);
    return new DenseOperator(values, [A.length, columns]);
  }
  const expected = 'expected a LinearOperator, a Formula, an ml-matrix Matrix, a number[][] or an object { shape, matvec }';
  if (typeof A !== 'object' || A === null || ArrayBuffer.isView(A)) {
    throw new TypeError(`aslinearoperator: ${expected}, got ${describeValue(A)}`);
  }
  const spec = A as Partial<OperatorSpec> & Record<string, unknown>;
  if (!('shape' in spec)) throw new TypeError(`aslinearoperator: ${expected}, got ${describeValue(A)} (no shape)`);
  assertShape(spec.shape, 'aslinearoperator');
  checkOperatorSpec(spec);
  if (!spec.matvec && !spec.matmat) {
    throw new TypeError(
      `aslinearoperator: the object with shape ${formatShape(spec.shape)} has neither a matvec nor a matmat function ` +
        `(keys: ${Object.keys(A).join(', ')})`,
    );
  }
  return new FunctionOperator(spec as OperatorSpec);
}
