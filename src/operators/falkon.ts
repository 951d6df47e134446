/**
 * Falkon's block kernel products (its `mmv_ops`): `dmmv(K, v, w)` = Kᵀ(K v + w), the product of Falkon's CG on the
 * normal equations, and `mm(K)`, the dense kernel block when it is asked for, behind a size guard.
 */
import { Matrix } from 'ml-matrix';
import { collectVariables } from '../formula/analyze.js';
import { DenseKernelMatrix } from '../cpu/dense-product.js';
import { defaultDenseCacheBytes } from '../cpu/memory-pool.js';
import { Block } from './block.js';
import { KernelOperator, assertDenseFits } from './kernel-operator.js';
import { LinearOperator } from './linear-operator.js';
import { optional, parseOptions, type OptionField } from './options.js';
import type { BlockLike, VectorLike } from './types.js';
import { describeValue, isBlockLike, toBlock, toVector } from './validate.js';

/**
 * Kᵀ(K v + w) for K of shape n×m: v of length m (or an m×k block), w of length n (or n×k; omitted: 0). Two tiled passes
 * over K — K·v, then Kᵀ·(K v + w) — and K is never stored: a KernelOperator's products run on its `uncached()` twin
 * (its dense cache off), so dmmv in a loop keeps memory at O((n + m)·k). Any other LinearOperator uses its matmat and
 * its transpose's. Returns a Float64Array for a vector v, a Matrix (m×k) for a block.
 */
export async function dmmv(K: LinearOperator, v: VectorLike, w?: VectorLike): Promise<Float64Array>;
export async function dmmv(K: LinearOperator, v: BlockLike, w?: BlockLike): Promise<Matrix>;
export async function dmmv(K: LinearOperator, v: VectorLike | BlockLike, w?: VectorLike | BlockLike): Promise<Float64Array | Matrix> {
  if (!(K instanceof LinearOperator)) throw new TypeError(`dmmv: K must be a LinearOperator, got ${describeValue(K)}`);
  const [n, m] = K.shape;
  const A = K instanceof KernelOperator ? K.uncached() : K;
  const vector = !isBlockLike(v);
  const V = vector ? new Block(toVector(v as VectorLike, m, 'dmmv (v)'), m, 1) : toBlock(v as BlockLike, m, 'dmmv (v)');
  const U = Block.fromMatrix(await A.matmat(V.toMatrix())).clone();
  if (w !== undefined) {
    if (vector === isBlockLike(w)) throw new TypeError(`dmmv: w must be ${vector ? 'a vector' : 'a block'} like v, got ${describeValue(w)}`);
    const W = vector ? new Block(toVector(w as VectorLike, n, 'dmmv (w)'), n, 1) : toBlock(w as BlockLike, n, 'dmmv (w)');
    if (W.cols !== V.cols) throw new RangeError(`dmmv: w has ${W.cols} columns but v has ${V.cols}`);
    for (let t = 0; t < U.data.length; t++) U.data[t] = U.data[t]! + W.data[t]!;
  }
  const out = await A.T.matmat(U.toMatrix());
  return vector ? Float64Array.from(out.getColumn(0)) : out;
}

export interface MmOptions {
  /** The largest dense matrix accepted, in bytes of float64 entries (default `defaultDenseCacheBytes()`). */
  maxBytes?: number;
}

const maxBytesField: OptionField<number> = {
  expected: 'a number of bytes ≥ 0',
  check: (value, where) => {
    if (typeof value !== 'number' || !(value >= 0)) throw new TypeError(`${where}: expected a number of bytes ≥ 0, got ${describeValue(value)}`);
    return value;
  },
};
const MM_SPEC = { maxBytes: optional(maxBytesField) } satisfies Record<keyof MmOptions, OptionField<unknown>>;

/**
 * The dense n×m kernel block K as a float64 Matrix (Falkon's `mm`), refused beyond `maxBytes` with the size named. A
 * KernelOperator's block is evaluated by the CPU backend's generated code on all cores (float64 whatever the
 * operator's dtype); another operator gives its `toDense()`.
 */
export async function mm(K: LinearOperator, options: MmOptions = {}): Promise<Matrix> {
  if (!(K instanceof LinearOperator)) throw new TypeError(`mm: K must be a LinearOperator, got ${describeValue(K)}`);
  const o = parseOptions('mm', options, MM_SPEC);
  assertDenseFits('mm', K, o.maxBytes ?? defaultDenseCacheBytes());
  if (!(K instanceof KernelOperator)) return K.toDense();
  const [n, m] = K.shape;
  const variables = collectVariables(K.formula.node);
  if (!DenseKernelMatrix.fits(variables, n, m, 'float64')) return K.toDense({ maxBytes: Infinity });
  const dense = await DenseKernelMatrix.materialise(K.formula.node, variables, n, m, 'float64');
  try {
    const M = new Matrix(n, m);
    for (let i = 0; i < n; i++) {
      const { values } = dense.row(i); // not packed: the whole row, from column 0
      M.setRow(i, values.subarray(0, m) as unknown as number[]);
    }
    return M;
  } finally {
    await dense.release();
  }
}
