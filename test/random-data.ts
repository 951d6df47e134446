/**
 * Seeded test data for every test folder: one PRNG (mulberry32 from src/krylov/random.ts) and one
 * formula per kind of data, so that a test's numbers depend only on its seed and arguments.
 */
import { Matrix } from 'ml-matrix';
import { mulberry32, randomVector } from '../src/krylov/random.js';

export { mulberry32, randomVector };

/** A length-n vector uniform in [−1, 1) from seed (src's `randomVector` on mulberry32(seed)). */
export function seededVector(seed: number, n: number): Float64Array {
  return randomVector(n, mulberry32(seed));
}

/** A rows×cols block uniform in [−1, 1), filled row by row from `rng`. */
export function randomBlock(rows: number, cols: number, rng: () => number): Matrix {
  const M = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) M.set(i, j, 2 * rng() - 1);
  return M;
}

export function seededBlock(seed: number, rows: number, cols: number): Matrix {
  return randomBlock(rows, cols, mulberry32(seed));
}

/**
 * n×d points uniform in [lo, hi) from seed, row by row; `float32` rounds each coordinate to a
 * float32-representable value (so float32 programs and a float64 oracle see the same numbers).
 */
export function seededPoints(seed: number, n: number, d: number, options: { lo?: number; hi?: number; float32?: boolean } = {}): number[][] {
  const { lo = 0, hi = 1, float32 = false } = options;
  const r = mulberry32(seed);
  const round = float32 ? Math.fround : (v: number) => v;
  return Array.from({ length: n }, () => Array.from({ length: d }, () => round(lo + (hi - lo) * r())));
}

/** The j-th unit vector of length m. */
export function unitVector(m: number, j: number): Float64Array {
  const e = new Float64Array(m);
  e[j] = 1;
  return e;
}
