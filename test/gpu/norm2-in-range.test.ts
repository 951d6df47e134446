/**
 * norm2 proven in float32's range for the bound points (formula/norm2-range.ts `norm2InFloat32RangeFor`): the GPU
 * program then takes √s with no range test in its pair loop. The proof's bounds are checked at their edges, the
 * programs' code for the branch (present exactly where the proof fails), and products at the proof's lower edge —
 * components of 2^−42, squares of 2^−84, just above the safe range's 2^−86 — against plain float64 JavaScript.
 */
import { describe, expect, it } from 'vitest';
import { Pm, Vi, Vj, kernelOperator, mulberry32 } from '../../src/index.js';
import { collectVariables } from '../../src/formula/analyze.js';
import { norm2InFloat32RangeFor } from '../../src/formula/norm2-range.js';
import { gpuProgramFor } from '../../src/gpu/reduce.js';
import { gpu, hasGpu } from './gpu-env.js';
import { seededPoints } from '../random-data.js';

const uniform = (seed: number, rows: number, d: number) => seededPoints(seed, rows, d);
const laplacian = (xs: number[][], ys: number[][]) => Vi(xs).sub(Vj(ys)).norm2().neg().exp();

describe('norm2InFloat32RangeFor: the proof and its edges', () => {
  it('holds for |x − y| of ordinary points, in either order, at small and large d', () => {
    expect(norm2InFloat32RangeFor(laplacian(uniform(1, 20, 3), uniform(2, 30, 3)).node)).toBe(true);
    expect(norm2InFloat32RangeFor(Vj(uniform(2, 30, 3)).sub(Vi(uniform(1, 20, 3))).norm2().node)).toBe(true);
    expect(norm2InFloat32RangeFor(laplacian(uniform(1, 5, 300), uniform(2, 6, 300)).node)).toBe(true);
  });

  it('lower edge: small coordinates pass where they are ≥ 2^−43 and ≥ 2^−43 apart, and fail otherwise', () => {
    expect(norm2InFloat32RangeFor(laplacian([[0, 2 ** -19], [-(2 ** -19), 1]], [[1, 0]]).node)).toBe(true);
    expect(norm2InFloat32RangeFor(laplacian([[0, 2 ** -43]], [[1, 0]]).node)).toBe(true);
    expect(norm2InFloat32RangeFor(laplacian([[0, 2 ** -44]], [[1, 0]]).node)).toBe(false); // 2^−44 against a 0
    // two small values of one coordinate, in x and y: 2^−40 apart pass, 2^−50 apart fail, equal pass
    expect(norm2InFloat32RangeFor(laplacian([[2 ** -30, 0]], [[2 ** -30 + 2 ** -40, 0]]).node)).toBe(true);
    expect(norm2InFloat32RangeFor(laplacian([[2 ** -30, 0]], [[2 ** -30 + 2 ** -50, 0]]).node)).toBe(false);
    expect(norm2InFloat32RangeFor(laplacian([[2 ** -30, 1]], [[2 ** -30, 0]]).node)).toBe(true);
    // float32 rounds before the test: 2^−30 + 2^−60 is 2^−30 in float32, so the two are equal
    expect(norm2InFloat32RangeFor(laplacian([[2 ** -30, 0]], [[2 ** -30 + 2 ** -60, 0]]).node)).toBe(true);
    // a small value against a large one: 2^−18 − 2^−42 (a multiple of 2^−42) and 2^−18 differ by 2^−42
    expect(norm2InFloat32RangeFor(laplacian([[2 ** -18 - 2 ** -42, 0]], [[2 ** -18, 0]]).node)).toBe(true);
  });

  it('holds for a million uniform points, whose few coordinates below 2^−18 are far apart', () => {
    const rand = mulberry32(9);
    const big = Array.from({ length: 2 ** 20 }, () => [rand(), rand(), rand()]);
    expect(big.some((p) => p.some((v) => v > 0 && v < 2 ** -18))).toBe(true);
    expect(norm2InFloat32RangeFor(laplacian(big, big).node)).toBe(true);
  });

  // (the builder writes the norm2 of a one-component vector as abs: two components and more here)
  it('upper edge: Σ (max|x_k| + max|y_k|)² ≤ 2^125 passes, beyond it fails', () => {
    expect(norm2InFloat32RangeFor(laplacian([[2 ** 61, 0]], [[-(2 ** 61), 0]]).node)).toBe(true); // (2^62)² = 2^124
    expect(norm2InFloat32RangeFor(laplacian([[2 ** 62, 0]], [[2 ** 62, 0]]).node)).toBe(false); // (2^63)² = 2^126
    expect(norm2InFloat32RangeFor(laplacian([[2 ** 61, 2 ** 61]], [[2 ** 61, 2 ** 61]]).node)).toBe(true); // 2·2^124
    expect(norm2InFloat32RangeFor(laplacian([[2 ** 61, 2 ** 61, 2 ** 61]], [[2 ** 61, 2 ** 61, 2 ** 61]]).node)).toBe(false);
  });

  it('fails for points float32 cannot hold, other norm2 arguments, a formula without norm2, and a mix', () => {
    expect(norm2InFloat32RangeFor(laplacian([[1e39, 0]], [[1, 0]]).node)).toBe(false); // finite in float64, ∞ in float32
    const [xs, ys] = [uniform(1, 4, 2), uniform(2, 5, 2)];
    expect(norm2InFloat32RangeFor(Vi(xs).norm2().mul(Vj(ys).sum()).node)).toBe(false);
    expect(norm2InFloat32RangeFor(Vi(xs).sub(Vj(ys)).mul(Pm(2)).norm2().node)).toBe(false);
    expect(norm2InFloat32RangeFor(Vi(xs).sub(Vj(ys)).sqnorm2().neg().exp().node)).toBe(false);
    const x = Vi(xs);
    expect(norm2InFloat32RangeFor(x.sub(Vj(ys)).norm2().add(x.norm2()).node)).toBe(false);
  });
});

describe.runIf(hasGpu)('GPU programs: the range test only where the proof fails', () => {
  const program = (f: ReturnType<typeof laplacian>) => gpuProgramFor(f.node, collectVariables(f.node), 4, 5, 1, gpu!.limits, { rowsPerThread: 1 });
  const rangeTest = /bitcast<u32>\(t\d+\) - \d+u >= \d+u/;

  it('ordinary points: √s alone, and the key says so', () => {
    const p = program(laplacian(uniform(1, 4, 3), uniform(2, 5, 3)));
    expect(p.code).not.toMatch(rangeTest);
    expect(p.key).toMatch(/n2safe/);
  });

  it('points past the proof: the range test and scaled recompute stay', () => {
    for (const scale of [1e-25, 1e25]) {
      const p = program(laplacian(uniform(1, 4, 3).map((r) => r.map((v) => v * scale)), uniform(2, 5, 3)));
      expect(p.code).toMatch(rangeTest);
      expect(p.key).not.toMatch(/n2safe/);
    }
  });
});

describe.runIf(hasGpu)('GPU products at the proof\'s lower edge (no range test)', () => {
  it('|x − y| with components of 2^−42 on coordinates of 2^−19 (squares 2^−84) is right to float32 rounding', async () => {
    const base = 2 ** -19;
    const ulp = 2 ** -42; // the spacing of float32 values in [2^−19, 2^−18)
    const xs = [[base, base], [base + 3 * ulp, base], [0, base + ulp]];
    const ys = [[base + ulp, base], [base, base + 2 * ulp], [base, 0], [0, 0]];
    const f = Vi(xs).sub(Vj(ys)).norm2();
    expect(norm2InFloat32RangeFor(f.node)).toBe(true);
    const K = kernelOperator(f, { backend: 'gpu', dtype: 'float32' });
    for (let j = 0; j < ys.length; j++) {
      const e = new Float64Array(ys.length);
      e[j] = 1;
      const got = await K.matvec(e);
      for (let i = 0; i < xs.length; i++) {
        const want = Math.hypot(xs[i]![0]! - ys[j]![0]!, xs[i]![1]! - ys[j]![1]!);
        expect(Math.abs(got[i]! - want), `K[${i}][${j}] = ${got[i]}, want ${want}`).toBeLessThanOrEqual(want * 2 ** -20);
      }
    }
  });
});
