import type { Matrix } from 'ml-matrix';

/** Precision in which an operator computes its products (inputs and outputs are always float64). */
export type Dtype = 'float32' | 'float64';

/** A vector argument: copied to a Float64Array before any operator sees it. */
export type VectorLike = Float64Array | Float32Array | number[];

/** A block of k vectors as an n×k matrix. */
export type BlockLike = Matrix | number[][];

/** Options accepted by eigsh/solve conveniences; their shape is owned by src/krylov. */
export type KrylovOptions = Record<string, unknown>;
