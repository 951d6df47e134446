/**
 * Formula reductions over i and j on the CPU (float64, float32) and the GPU (float32, llvmpipe), against the
 * brute-force float64 JS oracle (`evaluateReductionJs`, itself checked by hand on a tiny case).
 */
import { describe, expect, it } from 'vitest';
import {
  Formula, FormulaError, MAX_KMIN_K, Pm, Vi, Vj, max, min,
  type ReductionKind, type ReductionResult, type ValuesAndIndices,
} from '../../src/index.js';
import { evaluateReductionJs } from '../../src/formula/index.js';
import { hasGpu } from '../gpu/gpu-env.js';

function points(n: number, d: number, seed: number): number[][] {
  let s = seed;
  const r = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  return Array.from({ length: n }, () => Array.from({ length: d }, () => Math.fround(r())));
}

const x = points(37, 3, 1);
const y = points(29, 3, 2);
const v = points(29, 2, 3);
const u = points(37, 2, 4);
const X = Vi(x);
const Y = Vj(y);
const D = X.sub(Y).sqnorm2();

/** Random formulas: scalar, of several shapes, over the same points. */
const FORMULAS: [string, Formula][] = [
  ['squared distance', D],
  ['Gaussian', D.mul(-4).exp()],
  ['Laplace + dot', X.sub(Y).norm2().neg().exp().add(X.dot(Y).mul(0.3))],
  ['Manhattan', X.sub(Y).abs().sum()],
  ['cos · param', X.sub(Y).sum().mul(Pm(2.5, 's')).cos()],
];

type Place = { backend: 'cpu' | 'gpu'; dtype: 'float32' | 'float64' };
const PLACES: Place[] = [
  { backend: 'cpu', dtype: 'float64' },
  { backend: 'cpu', dtype: 'float32' },
  ...(hasGpu ? [{ backend: 'gpu', dtype: 'float32' } as Place] : []),
];

const tol = (p: Place) => (p.dtype === 'float64' ? 1e-12 : 2e-5);

function expectClose(got: Float64Array, want: Float64Array, rel: number): void {
  expect(got.length).toBe(want.length);
  const scale = Math.max(1, ...Array.from(want, Math.abs));
  for (let t = 0; t < want.length; t++) expect(Math.abs(got[t]! - want[t]!)).toBeLessThanOrEqual(rel * scale);
}

/** Index results: identical, except where float32 rounding makes two candidates' values tie. */
function expectIndices(got: Int32Array, want: Int32Array, wantValues: Float64Array | undefined, rel: number): void {
  expect(got.length).toBe(want.length);
  let mismatches = 0;
  for (let t = 0; t < want.length; t++) if (got[t] !== want[t]) mismatches++;
  if (rel < 1e-10 || wantValues === undefined) expect(mismatches).toBe(0);
  else expect(mismatches).toBeLessThanOrEqual(Math.ceil(0.02 * want.length)); // near-ties in float32
}

function compare(kind: ReductionKind, got: ReductionResult, want: ReductionResult, p: Place): void {
  if (got instanceof Int32Array) expectIndices(got, want as Int32Array, undefined, p.dtype === 'float64' ? 0 : 1);
  else if (got instanceof Float64Array) expectClose(got, want as Float64Array, tol(p));
  else {
    const g = got as ValuesAndIndices;
    const w = want as ValuesAndIndices;
    expectClose(g.values, w.values, tol(p));
    expectIndices(g.indices, w.indices, w.values, p.dtype === 'float64' ? 0 : 1);
  }
  expect(kind).toBeTypeOf('string');
}

async function run(F: Formula, kind: ReductionKind, axis: 0 | 1, p: Place, k = 1, w?: Formula): Promise<ReductionResult> {
  switch (kind) {
    case 'sum': return F.sum(axis, p);
    case 'min': return F.min(axis, p);
    case 'max': return F.max(axis, p);
    case 'argmin': return F.argmin(axis, p);
    case 'argmax': return F.argmax(axis, p);
    case 'minArgmin': return F.minArgmin(axis, p);
    case 'maxArgmax': return F.maxArgmax(axis, p);
    case 'kmin': return F.kmin(k, axis, p);
    case 'argKmin': return F.argKmin(k, axis, p);
    case 'kminArgKmin': return F.kminArgKmin(k, axis, p);
    case 'logsumexp': return F.logsumexp(axis, w, p);
    case 'sumSoftmaxWeight': return F.sumSoftmaxWeight(w!, axis, p);
  }
}

const KINDS: ReductionKind[] = ['sum', 'min', 'max', 'argmin', 'argmax', 'minArgmin', 'maxArgmax', 'kmin', 'argKmin', 'kminArgKmin', 'logsumexp'];

describe('the oracle', () => {
  it('matches hand-computed values on a 2×3 case, ties to the lowest index', () => {
    const F = Vi([[0], [1]]).sub(Vj([[1], [0], [1]])).abs(); // rows [1,0,1], [0,1,0]
    expect(Array.from(evaluateReductionJs(F.reduction('sum', 1)) as Float64Array)).toEqual([2, 1]);
    expect(Array.from(evaluateReductionJs(F.reduction('argmin', 1)) as Int32Array)).toEqual([1, 0]);
    expect(Array.from(evaluateReductionJs(F.reduction('argmax', 1)) as Int32Array)).toEqual([0, 1]);
    expect(Array.from(evaluateReductionJs(F.reduction('argKmin', 1, 3)) as Int32Array)).toEqual([1, 0, 2, 0, 2, 1]);
    expect(Array.from(evaluateReductionJs(F.reduction('argmin', 0)) as Int32Array)).toEqual([1, 0, 1]);
    const lse = evaluateReductionJs(F.reduction('logsumexp', 1)) as Float64Array;
    expect(lse[0]).toBeCloseTo(Math.log(2 * Math.E + 1), 14);
  });
});

for (const p of PLACES) {
  describe(`${p.backend} ${p.dtype}`, () => {
    for (const [name, F] of FORMULAS) {
      for (const axis of [0, 1] as const) {
        it(`${name}, axis ${axis}: every reduction against float64 brute force`, async () => {
          for (const kind of KINDS) {
            const k = kind === 'kmin' || kind === 'argKmin' || kind === 'kminArgKmin' ? 5 : 1;
            const want = evaluateReductionJs(F.reduction(kind, axis, k));
            compare(kind, await run(F, kind, axis, p, k), want, p);
          }
        });
      }
    }

    it('ties go to the lowest index (integer-valued formula), k = 1 and k = m', async () => {
      const a = Vi([[0], [2], [5]]);
      const b = Vj([[1], [3], [1], [-1], [3], [1]]);
      const F = a.sub(b).abs(); // many equal values per row
      for (const kind of ['argmin', 'argmax', 'argKmin'] as const) {
        for (const axis of [0, 1] as const) {
          const k = kind === 'argKmin' ? (axis === 1 ? 6 : 3) : 1; // k = m
          const want = evaluateReductionJs(F.reduction(kind, axis, k)) as Int32Array;
          expect(Array.from(await run(F, kind, axis, p, k) as Int32Array)).toEqual(Array.from(want));
        }
      }
      expect(Array.from(await F.argmin(1, p))).toEqual([0, 0, 1]);
      expect(Array.from(await F.argKmin(6, 1, p)).slice(0, 6)).toEqual([0, 2, 3, 5, 1, 4]);
    });

    it('vector formulas: sum of F·v (v a j-variable), of a general vector formula, vector weights', async () => {
      const G = D.mul(-3).exp();
      const cases: [Formula, 0 | 1][] = [[G.mul(Vj(v)), 1], [Vi(u).mul(G), 0], [X.sub(Y).abs().mul(G), 1]];
      for (const [F, axis] of cases) {
        expectClose(await F.sum(axis, p), evaluateReductionJs(F.reduction('sum', axis)) as Float64Array, tol(p));
      }
      const W = Vj(v);
      expectClose(await G.logsumexp(1, W, p), evaluateReductionJs(G.reduction('logsumexp', 1, 1, W)) as Float64Array, tol(p));
      expectClose(await D.neg().sumSoftmaxWeight(W, 1, p), evaluateReductionJs(D.neg().reduction('sumSoftmaxWeight', 1, 1, W)) as Float64Array, tol(p));
      const W2 = Vi(u).add(Vj(v)); // a weight depending on both indices
      expectClose(await D.neg().sumSoftmaxWeight(W2, 0, p), evaluateReductionJs(D.neg().reduction('sumSoftmaxWeight', 0, 1, W2)) as Float64Array, tol(p));
    });

    it('logsumexp at ε = 1e-3 stays finite (a naive sum of exp underflows to log 0 = −∞)', async () => {
      const F = X.sub(Y.add(1.5)).sqnorm2().div(-1e-3); // every |x − y|² ≥ 0.75: exp(F) ≤ e^−750 underflows
      const got = await F.logsumexp(1, undefined, p);
      const want = evaluateReductionJs(F.reduction('logsumexp', 1)) as Float64Array;
      expect(got.every(Number.isFinite)).toBe(true);
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * Math.abs(want[i]!) + 1e-9);
      const naive = await F.exp().sum(1, p);
      expect(Array.from(naive).every((s) => Math.log(s) === -Infinity)).toBe(true);
      const big = F.neg(); // exp(−F) overflows float32 and float64: the shifted sum does not
      expect((await big.logsumexp(1, undefined, p)).every(Number.isFinite)).toBe(true);
    });

    it('a weighted logsumexp whose sum is negative is refused, naming the result (it was clamped and returned as −∞)', async () => {
      const pts = [[0, 0], [1, 0], [0, 1], [1, 1]];
      const F = Vi(pts).sub(Vj(pts)).sqnorm2().neg();
      // row 1: exp(−[1, 0, 2, 1])·[1, −1, 1, 1] = e⁻¹ − 1 + e⁻² + e⁻¹ < 0; the float64 oracle gives NaN there
      const W = Vj([[1], [-1], [1], [1]]);
      expect(Number.isNaN((evaluateReductionJs(F.reduction('logsumexp', 1, 1, W)) as Float64Array)[1]!)).toBe(true);
      await expect(F.logsumexp(1, W, p)).rejects.toThrow(/^Formula\.logsumexp: at result 1 \(axis 1\) the weighted sum of exp\(F\)·W is negative .*no real logarithm/);
      // a sum of exactly 0 has log −∞
      expect(Array.from(await F.logsumexp(1, Vj([[0], [0], [0], [0]]), p))).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
    });

    it('NaN values of the formula are skipped by the min family; a row with fewer than k others is an error naming it', async () => {
      const a = Vi([[1], [-1]]);
      const b = Vj([[4], [-4], [0.25]]);
      const F = a.mul(b).log(); // row 0: log 4, NaN, log .25; row 1: NaN, log 4, NaN
      expect(Array.from(await F.argmin(1, p))).toEqual([2, 1]);
      await expect(F.argKmin(2, 1, p)).rejects.toThrow(/row 1 has 1 non-NaN formula values, fewer than the 2/);
    });
  });
}

describe('API and errors', () => {
  it('F.min(G) / F.max(number) are refused as ambiguous, naming both meanings; min(a, b) is element-wise', async () => {
    await expect(D.min(Y.sum() as never)).rejects.toThrow(/ambiguous: F\.min\(axis\) is the reduction .* function min\(a, b\)/);
    // a number that is not an axis: the axis error, naming the element-wise function beside it
    await expect(D.max(0.5 as never)).rejects.toThrow(/Formula\.max: axis must be 0 .* got 0\.5; the element-wise maximum of F and 0\.5 is the function max\(F, 0\.5\)/);
    await expect(D.argmin(2 as never)).rejects.toThrow(/axis must be 0 .* or 1/);
    expect(min(D, 1).toString()).toBe('min(sqnorm2(x - y), 1)');
    expect(max(D, Pm(0.5)).dim).toBe(1);
    expect(D.sum().toString()).toBe('sqnorm2(x - y)'); // no axis: the component sum of a scalar
  });

  it('k out of range, vector formulas where a scalar is needed, unknown options: clear errors', async () => {
    await expect(D.argKmin(0, 1)).rejects.toThrow(/k must be a positive integer/);
    await expect(D.argKmin(30, 1)).rejects.toThrow(/k = 30 exceeds the 29 values reduced over \(axis 1\)/);
    const many = Vi(points(3, 1, 5)).sub(Vj(points(MAX_KMIN_K + 1, 1, 6))).abs();
    await expect(many.argKmin(MAX_KMIN_K + 1, 1)).rejects.toThrow(/exceeds the limit 64/);
    await expect(X.sub(Y).min(1)).rejects.toThrow(/must be scalar \(it has dimension 3\)/);
    await expect(D.sum(1, { backend: 'cpu', dtyp: 'float32' } as never)).rejects.toThrow(/dtyp/);
    await expect(D.argmin(1, { backend: 'gpu', dtype: 'float64' })).rejects.toThrow(/Formula\.argmin: float64 is not supported on the GPU/);
    await expect(Vi([[1e39]]).sub(Vj([[0]])).abs().min(1, { backend: 'cpu', dtype: 'float32' })).rejects.toThrow(/Formula\.min: x at row 0, column 0 is 1e\+39, beyond float32's range/);
  });

  it('empty inputs are refused where they are bound; NaN inputs name the array, row and column', () => {
    expect(() => Vi([])).toThrow(FormulaError);
    expect(() => Vi([])).toThrow(/empty point set/);
    expect(() => Vj([[0, 1], [NaN, 2]], 'y')).toThrow(/y: non-finite value NaN at row 1, column 0/);
  });
});
