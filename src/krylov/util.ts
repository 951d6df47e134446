/** Shared plumbing of the Krylov solvers: operator normalisation, option fields, column blocks, BLAS-1. */
import { Matrix } from 'ml-matrix';
import { LinearOperator, matmatBlock } from '../operators/linear-operator.js';
import { aslinearoperator } from '../operators/aslinearoperator.js';
import { field, OptionRangeError, OptionTypeError, type OptionField } from '../operators/options.js';
import { describeValue, isBlockLike, isVectorLike } from '../operators/validate.js';
import { Block } from '../operators/block.js';

/** Anything `aslinearoperator` accepts: a LinearOperator, a Matrix, a number[][] or `{ shape, matvec }`. */
export type OperatorInput = Parameters<typeof aslinearoperator>[0];
export type VectorInput = Float64Array | Float32Array | number[];
export type BlockInput = Matrix | number[][];

/** Machine epsilon of an operator's products: tolerances of 0 mean "as precise as the products". */
export function dtypeEps(dtype: 'float32' | 'float64'): number {
  return dtype === 'float32' ? 1.1920928955078125e-7 : Number.EPSILON;
}

export function toOperator(A: OperatorInput, fn: string, what = 'A'): LinearOperator {
  try {
    return aslinearoperator(A);
  } catch (cause) {
    throw new TypeError(`${fn}: ${what} is not operator-like (${(cause as Error).message})`, { cause });
  }
}

/** An option that is an operator (anything `aslinearoperator` takes), converted. */
export const operatorLike: OptionField<LinearOperator> = {
  expected: 'an operator (LinearOperator, Matrix, number[][] or { shape, matvec })',
  check: (value, where) => {
    try {
      return aslinearoperator(value as OperatorInput);
    } catch (cause) {
      throw new OptionTypeError(`${where} must be ${operatorLike.expected}, got ${describeValue(value)} (${(cause as Error).message})`, where);
    }
  },
};

/** A vector option (its length and entries are checked by `vectorArg` once n is known). */
export const vectorLike: OptionField<VectorInput> = field<VectorInput>('a Float64Array, Float32Array or number[]', isVectorLike);

/** A block option (Matrix or number[][]; its shape and entries are checked by `blockArg` once n is known). */
export const blockLike: OptionField<BlockInput> = field<BlockInput>('a block (Matrix or number[][])', isBlock);

/** A vector or a block (Matrix or number[][]) option. */
export const vectorOrBlock: OptionField<VectorInput | BlockInput> = field<VectorInput | BlockInput>(
  'a vector (Float64Array, Float32Array, number[]) or a block (Matrix, number[][])', (v) => isBlock(v) || isVectorLike(v));

/**
 * Refuses options that scipy's function of the same name takes but this one does not, each with what to use
 * instead (before `parseOptions`, whose unknown-key message could not say why).
 */
export function refuseUnsupported(fn: string, options: unknown, unsupported: Readonly<Record<string, string>>): void {
  if (typeof options !== 'object' || options === null) return;
  for (const key of Object.keys(options)) {
    const why = unsupported[key];
    if (why !== undefined && (options as Record<string, unknown>)[key] !== undefined) {
      throw new OptionRangeError(`${fn}: scipy's option '${key}' is not supported: ${why}`, key);
    }
  }
}

export function requireSquare(A: LinearOperator, fn: string, what = 'A'): number {
  const [m, n] = A.shape;
  if (m !== n) throw new RangeError(`${fn}: ${what} must be square, got shape ${m}x${n} (${A})`);
  return n;
}

/** A block (Matrix or number[][]) rather than a vector: operators/validate.ts's test, under the Krylov layer's name. */
export function isBlock(b: unknown): b is BlockInput {
  return isBlockLike(b);
}

/** A vector argument as a fresh, finite Float64Array of length n. */
export function vectorArg(x: unknown, n: number, fn: string, what: string): Float64Array {
  if (!(x instanceof Float64Array || x instanceof Float32Array || Array.isArray(x))) {
    throw new TypeError(`${fn}: ${what} must be a Float64Array, Float32Array or number[], got ${typeof x}`);
  }
  if (x.length !== n) throw new RangeError(`${fn}: ${what} has length ${x.length}, expected ${n}`);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const xi = (x as ArrayLike<unknown>)[i];
    if (typeof xi !== 'number' || !Number.isFinite(xi)) {
      throw new RangeError(`${fn}: ${what}[${i}] is ${String(xi)}; entries must be finite numbers`);
    }
    v[i] = xi;
  }
  return v;
}

/** A block argument (Matrix or number[][], n×k) as k fresh finite columns (views of one new Block). */
export function blockArg(X: BlockInput, n: number, fn: string, what: string): Float64Array[] {
  const M = Matrix.isMatrix(X) ? (X as Matrix) : null;
  const rows = M ? M.rows : (X as number[][]).length;
  if (rows !== n) throw new RangeError(`${fn}: ${what} has ${rows} rows, expected ${n}`);
  const k = M ? M.columns : (X as number[][])[0]!.length;
  if (k === 0) throw new RangeError(`${fn}: ${what} has no columns`);
  const out = M ? Block.fromMatrix(M) : Block.zeros(n, k);
  const d = out.data;
  for (let i = 0; i < n; i++) {
    const row = M ? null : (X as number[][])[i]!;
    if (row && row.length !== k) throw new RangeError(`${fn}: ${what} row ${i} has length ${row.length}, expected ${k}`);
    for (let j = 0; j < k; j++) {
      const v = row ? row[j]! : d[j * n + i]!;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new RangeError(`${fn}: ${what}[${i}][${j}] is ${String(v)}; entries must be finite numbers`);
      }
      d[j * n + i] = v;
    }
  }
  return out.columns();
}

/** A·[c₀ … c_{k−1}] as columns (views of one result block): one product for all of them, no Matrix built. */
export async function applyColumns(A: LinearOperator, cols: readonly Float64Array[]): Promise<Float64Array[]> {
  if (cols.length === 0) return [];
  return (await matmatBlock(A, Block.fromColumns(cols))).columns();
}

export { dot, norm, residualNorm } from '../operators/vectors.js';

/** y ← y + a·x */
export function axpy(a: number, x: Float64Array, y: Float64Array): void {
  const n = x.length;
  for (let i = 0; i < n; i++) y[i]! += a * x[i]!;
}

export function now(): number {
  return performance.now();
}
