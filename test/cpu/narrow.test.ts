// The WASM SIMD float64 → float32 narrowing behind the GPU fast path (src/cpu/narrow.ts): every entry equals
// Math.fround of its source (round to nearest even, as a Float32Array store), and the sum of squares equals a
// float64 loop's to rounding; NaN and ±∞ reach the sum. Lengths cover the four-entry steps' tails and the memory's
// growth; offsets cover a sub-range of x.
import { describe, expect, it } from 'vitest';
import { narrowWithSquares } from '../../src/cpu/narrow.js';
import { seededVector } from '../random-data.js';

function check(x: Float64Array, start: number, count: number): void {
  const { data, squares } = narrowWithSquares(x, start, count);
  expect(data.length).toBe(count);
  let s = 0;
  for (let j = 0; j < count; j++) {
    const v = x[start + j]!;
    s += v * v;
    if (!Object.is(data[j], Math.fround(v))) throw new Error(`entry ${j}: ${data[j]} against fround(${v}) = ${Math.fround(v)}`);
  }
  // both sums of non-negative terms: each within count·ε of the exact sum
  expect(Math.abs(squares - s)).toBeLessThanOrEqual(2 * count * 2 ** -53 * s);
}

describe('narrowWithSquares', () => {
  it('narrows like Math.fround and sums the squares, for every tail length and offset', () => {
    const x = seededVector(5, 40).map((t, j) => t * 10 ** ((j % 13) - 6));
    for (let count = 0; count <= 11; count++) for (const start of [0, 1, 3]) check(x, start, count);
    check(x, 0, 40);
  });

  it('rounds ties to even, keeps signed zeros, subnormals and the float32 range edges', () => {
    const tie = 1 + 2 ** -24; // halfway between two float32 values
    const x = Float64Array.from([tie, -tie, 1 + 3 * 2 ** -24, -0, 0, 1e-40, -1e-45, 3.4028234663852886e38, 2 ** -149, 5e-324]);
    check(x, 0, x.length);
  });

  it('grows its memory for long vectors and overwrites the previous view', () => {
    const big = seededVector(6, 300_001);
    check(big, 0, big.length);
    const small = seededVector(7, 9);
    const first = narrowWithSquares(small, 0, 9);
    const copy = Float32Array.from(first.data);
    narrowWithSquares(Float64Array.from(small, (t) => -t), 0, 9);
    expect(Array.from(first.data)).toEqual(Array.from(copy, (t) => -t)); // the same view, rewritten
  });

  it('NaN and ±∞ make the sum NaN or ∞', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const x = seededVector(8, 17);
      x[13] = bad;
      const { squares } = narrowWithSquares(x, 0, 17);
      expect(Number.isFinite(squares)).toBe(false);
    }
  });

  it('refuses a range outside the vector, naming it', () => {
    const x = new Float64Array(4);
    expect(() => narrowWithSquares(x, 2, 3)).toThrow(/range \[2, 5\) outside a vector of 4 entries/);
    expect(() => narrowWithSquares(x, -1, 1)).toThrow(RangeError);
    expect(() => narrowWithSquares(x, 0.5, 1)).toThrow(RangeError);
  });
});
