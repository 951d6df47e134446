import type { Matrix } from 'ml-matrix';
import { seededBlock } from '../random-data.js';

/** A seeded random matrix with entries in [-1, 1). */
export function randomMatrix(rows: number, cols: number, seed = 1): Matrix {
  return seededBlock(seed, rows, cols);
}

/** A seeded random symmetric matrix. */
export function randomSymmetric(n: number, seed = 1): Matrix {
  const A = randomMatrix(n, n, seed);
  return A.add(A.transpose()).mul(0.5);
}
