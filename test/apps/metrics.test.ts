import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { adjustedRandIndex } from '../../src/apps/metrics.js';
import { concentricCircles, MAX_ROW_POINTS, twoMoons } from '../../src/apps/datasets.js';

// made by test/fixtures/make_apps_fixtures.py (scikit-learn's adjusted_rand_score)
const fixture = JSON.parse(readFileSync(new URL('../fixtures/apps_sklearn.json', import.meta.url), 'utf8')) as {
  ari: { a: number[]; b: number[]; ari: number }[];
};

describe('adjustedRandIndex', () => {
  it("matches scikit-learn's adjusted_rand_score on random, noisy-copy and degenerate labellings", () => {
    for (const c of fixture.ari) {
      expect(adjustedRandIndex(c.a, c.b)).toBeCloseTo(c.ari, 12);
      expect(adjustedRandIndex(Int32Array.from(c.b), Int32Array.from(c.a))).toBeCloseTo(c.ari, 12); // symmetric
    }
  });

  it('refuses labellings of different lengths and non-integer labels', () => {
    expect(() => adjustedRandIndex([0, 1], [0, 1, 1])).toThrow(/a has 2 labels and b has 3/);
    expect(() => adjustedRandIndex([0, 0.5], [0, 1])).toThrow(/a\[1\] must be an integer label, got 0.5/);
  });

  it('takes labels as any numeric typed array of integers, and names an unsupported type by its constructor (it said "got object")', () => {
    const a = [0, 0, 1, 1, 2, 2, 2];
    const b = [1, 1, 0, 0, 0, 2, 2];
    const want = adjustedRandIndex(a, b);
    for (const T of [Float64Array, Float32Array, Uint8Array, Int16Array, Uint32Array]) {
      expect(adjustedRandIndex(T.from(a), b), T.name).toBe(want);
      expect(adjustedRandIndex(a, T.from(b)), T.name).toBe(want);
    }
    expect(() => adjustedRandIndex(Float64Array.of(0, 0.5), [0, 1])).toThrow(/^adjustedRandIndex: a\[1\] must be an integer label, got 0.5$/);
    expect(() => adjustedRandIndex(Float64Array.of(0, NaN), [0, 1])).toThrow(/a\[1\] must be an integer label, got NaN$/);
    expect(() => adjustedRandIndex(BigInt64Array.of(0n, 1n) as never, [0, 1])).toThrow(/^adjustedRandIndex: a must be an array of integers or a numeric typed array, got a BigInt64Array of length 2$/);
    expect(() => adjustedRandIndex([0, 1], { 0: 0, 1: 1, length: 2 } as never)).toThrow(/b must be .* got an object with keys \[0, 1, length\]/);
    expect(() => adjustedRandIndex(['0', 1] as never, [0, 1])).toThrow(/a\[0\] must be an integer label, got a string "0"/);
  });
});

describe('data sets', () => {
  it('are reproducible from the seed, differ across seeds, and label their groups', () => {
    expect(twoMoons(50, { seed: 3 }).points).toEqual(twoMoons(50, { seed: 3 }).points);
    expect(twoMoons(50, { seed: 3 }).points).not.toEqual(twoMoons(50, { seed: 4 }).points);
    const c = concentricCircles(300, { nCircles: 3, noise: 0, seed: 1 });
    for (let i = 0; i < 300; i++) expect(Math.hypot(...c.points[i]!)).toBeCloseTo(c.labels[i]! + 1, 12);
    expect(() => twoMoons(10, { noize: 0.1 } as never)).toThrow(/unknown option 'noize'.*did you mean 'noise'/);
    expect(() => concentricCircles(0)).toThrow(/n must be an integer ≥ 1/);
    // before: 2 points on 3 circles gave 2 labels in silence; a noise of 1e308 handed out ±∞ coordinates
    expect(() => concentricCircles(2, { nCircles: 3 })).toThrow('concentricCircles: n = 2 points leave circles empty: at least nCircles = 3 are needed');
    expect(concentricCircles(3, { nCircles: 3 }).labels).toEqual(Int32Array.from([0, 1, 2]));
    expect(() => twoMoons(100, { noise: 1e308 })).toThrow(/^twoMoons: point \d+ came out \(.*Infinity.*\): the noise overflows float64$/);
    expect(twoMoons(100, { noise: 1e300 }).flat.data.every(Number.isFinite)).toBe(true);
  });

  it('come flat too (the same coordinates row-major), and refuse rows past MAX_ROW_POINTS instead of exhausting the heap', () => {
    const m = twoMoons(40, { seed: 3 });
    expect(m.flat.rows).toBe(40);
    expect(m.flat.cols).toBe(2);
    expect(Array.from(m.flat.data)).toEqual(m.points.flat());
    expect(m.points).toBe(m.points); // made once
    // twoMoons(1e8).points ended the process ("JavaScript heap out of memory"); the flat form is what such n need
    const big = concentricCircles(MAX_ROW_POINTS + 1, { seed: 1 });
    expect(big.flat.data.length).toBe(2 * (MAX_ROW_POINTS + 1));
    expect(() => big.points).toThrow(/concentricCircles: 10000001 points as number\[\]\[\] would need ≈ 1 GiB of JavaScript heap .* use \.flat/);
  });
});
