import { Matrix } from 'ml-matrix';

/** A seeded random matrix with entries in [-1, 1). */
export function randomMatrix(rows: number, cols: number, seed = 1): Matrix {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const M = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) M.set(i, j, 2 * rand() - 1);
  return M;
}

/** A seeded random symmetric matrix. */
export function randomSymmetric(n: number, seed = 1): Matrix {
  const A = randomMatrix(n, n, seed);
  return A.add(A.transpose()).mul(0.5);
}
