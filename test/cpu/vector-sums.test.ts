/**
 * `dot`, `norm` and `residualNorm` (src/operators/vectors.ts) take their sums from a small fixed program between VECTOR_SUMS_MIN and
 * VECTOR_SUMS_MAX entries (src/cpu/vector-sums.ts): the same IEEE multiplies and adds in the same order as the plain
 * loops, so the same bits — checked here against those loops written out, on vectors whose sums round at every step
 * (mixed signs and magnitudes), at the lengths around both bounds; and `norm`'s scaled path (sums out of range) still
 * answers where the program's plain sum overflows or underflows.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { dot, norm, residualNorm } from '../../src/krylov/util.js';
import { dotInProgram, residualInProgram, VECTOR_SUMS_MAX, VECTOR_SUMS_MIN, vectorSumCounts, vectorSumsCompiled } from '../../src/cpu/vector-sums.js';
import { mulberry32 } from '../../src/krylov/random.js';

/** Entries of mixed sign spanning twelve decades: every partial sum rounds. */
function vector(n: number, seed: number): Float64Array {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => (r() - 0.5) * 10 ** (12 * r() - 6));
}

// the first call asks for the program and takes the loop; every call after its compile takes the program
beforeAll(async () => {
  const x = vector(1000, 1);
  const before = vectorSumCounts.program;
  expect(Object.is(dot(x, x), plainDot(x, x))).toBe(true);
  expect(vectorSumCounts.program).toBe(before);
  await vectorSumsCompiled();
});

const plainDot = (x: Float64Array, y: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
  return s;
};

describe('vector sums by the program', () => {
  it('gives the plain loops\' bits for dot and norm, and runs only between its bounds', () => {
    for (const n of [1, VECTOR_SUMS_MIN - 1, VECTOR_SUMS_MIN, 1500, 4097, VECTOR_SUMS_MAX, VECTOR_SUMS_MAX + 1]) {
      const x = vector(n, n);
      const y = vector(n, n + 1);
      const before = vectorSumCounts.program;
      expect(Object.is(dot(x, y), plainDot(x, y))).toBe(true);
      expect(Object.is(norm(x), Math.sqrt(plainDot(x, x)))).toBe(true);
      const inRange = n >= VECTOR_SUMS_MIN && n <= VECTOR_SUMS_MAX;
      expect(vectorSumCounts.program - before).toBe(inRange ? 2 : 0);
      expect(dotInProgram(x, y) === undefined).toBe(!inRange);
    }
  });

  it('keeps norm\'s scaling where the plain sum of squares leaves the range', () => {
    const big = Float64Array.from({ length: 1000 }, (_, i) => (i % 2 ? -1 : 1) * 1e200);
    expect(norm(big) / (1e200 * Math.sqrt(1000))).toBeCloseTo(1, 14);
    const tiny = Float64Array.from({ length: 1000 }, (_, i) => (i % 2 ? -1 : 1) * 1e-200);
    expect(norm(tiny) / (1e-200 * Math.sqrt(1000))).toBeCloseTo(1, 14);
  });

  it('answers after a longer vector moved it to a larger memory, and for vectors of other lengths', () => {
    const long = vector(30000, 3);
    expect(Object.is(dot(long, long), plainDot(long, long))).toBe(true);
    const short = vector(700, 4);
    const other = vector(700, 5);
    expect(Object.is(dot(short, other), plainDot(short, other))).toBe(true);
    // the program's y is copied after x: a mismatched length is left to the loop
    expect(dotInProgram(short, vector(701, 6))).toBeUndefined();
  });
});

describe('residual norms by the program', () => {
  it('gives the bits of the norm of the difference written out, and the scaled norm out of range', () => {
    for (const n of [100, 1500]) {
      const a = vector(n, 7 * n);
      const x = vector(n, 7 * n + 1);
      const lambda = -0.731;
      const written = norm(a.map((v, i) => v - lambda * x[i]!));
      const before = vectorSumCounts.program;
      expect(Object.is(residualNorm(a, lambda, x), written)).toBe(true);
      expect(vectorSumCounts.program - before).toBe(n >= VECTOR_SUMS_MIN ? 1 : 0);
      expect(residualInProgram(a, lambda, x) === undefined).toBe(n < VECTOR_SUMS_MIN);
    }
    const huge = Float64Array.from({ length: 600 }, (_, i) => (i % 3) * 1e200);
    const ones = new Float64Array(600).fill(1);
    expect(residualNorm(huge, 2, ones)).toBe(norm(huge.map((v, i) => v - 2 * ones[i]!)));
    expect(Number.isFinite(residualNorm(huge, 2, ones))).toBe(true);
  });
});

describe('finiteness checks by the program', () => {
  it('finds a non-finite entry anywhere, and leaves vectors past its bound to the loop', async () => {
    const { allFinite, assertFiniteBlock } = await import('../../src/operators/validate.js');
    const { Block } = await import('../../src/operators/block.js');
    for (const n of [VECTOR_SUMS_MIN, 1500, 3 * VECTOR_SUMS_MAX + 7]) {
      const x = vector(n, n + 11);
      const before = vectorSumCounts.program;
      expect(allFinite(x)).toBe(true);
      expect(vectorSumCounts.program - before).toBe(n <= VECTOR_SUMS_MAX ? 1 : 0);
      for (const bad of [Infinity, -Infinity, NaN]) {
        for (const at of [0, n >> 1, n - 1]) {
          const y = x.slice();
          y[at] = bad;
          expect(allFinite(y)).toBe(false);
        }
      }
    }
    // the block's error still names the first non-finite entry in row-major order
    const data = vector(3 * 400, 5);
    data[2 * 400 + 7] = NaN; // column 2, row 7
    data[1 * 400 + 9] = Infinity; // column 1, row 9
    expect(() => assertFiniteBlock(new Block(data, 400, 3), 'test')).toThrow('entry (7, 2) of the block is NaN');
    expect(() => assertFiniteBlock(new Block(vector(1200, 6), 400, 3), 'test')).not.toThrow();
  });
});
