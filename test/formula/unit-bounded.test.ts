// isUnitBounded (src/formula/sign.ts): 0 ≤ F ≤ 1 and never NaN for every finite input — what lets a float32 product
// skip its range check. Claimed for the Gaussian, Laplacian and Cauchy forms, refused where ∞ − ∞, 0·∞ or an
// unbounded value could arise; each claim is checked on extreme finite inputs by the JS twin.
import { describe, expect, it } from 'vitest';
import { Pm, Vi, Vj, compileScalarJs, type Formula } from '../../src/formula/index.js';
import { isUnitBounded } from '../../src/formula/sign.js';
import { gaussianKernel, laplacianKernel, maternKernel, cauchyKernel, polynomialKernel } from '../../src/operators/kernels.js';

const F32_MAX = 3.4028234663852886e38;
const extremes = [0, 1e-45, -1e-45, 1, -1, 1e19, -1e19, 3e38, -3e38, F32_MAX, -F32_MAX];
const points = (d: number) => extremes.flatMap((a) => extremes.map((b) => Array.from({ length: d }, (_, k) => (k % 2 ? a : b))));

const x = points(2);
const xi = Vi(x, 'x');
const yj = Vj(x, 'y');

/** Every value of the formula over all pairs of extreme points lies in [0, 1]. */
function boundedOnExtremes(f: Formula): boolean {
  const k = compileScalarJs(f.node);
  for (let i = 0; i < x.length; i++) for (let j = 0; j < x.length; j++) {
    const v = k(i, j);
    if (!(v >= 0 && v <= 1)) return false;
  }
  return true;
}

describe('isUnitBounded', () => {
  const claimed: [string, Formula][] = [
    ['exp(−|x − y|²/2)', xi.sub(yj).sqnorm2().div(2).neg().exp()],
    ['exp(−|x − y|)', xi.sub(yj).norm2().neg().exp()],
    ['exp(−0.5·|x − y|²)·exp(−|x − y|)', xi.sub(yj).sqnorm2().mul(0.5).neg().exp().mul(xi.sub(yj).norm2().neg().exp())],
    ['1/(1 + |x − y|²)', xi.sub(yj).sqnorm2().add(1).inv()],
    ['exp(−√(|x − y|²))', xi.sub(yj).sqnorm2().sqrt().neg().exp()],
  ];
  for (const [name, f] of claimed) {
    it(`claims ${name}, which stays in [0, 1] on extreme finite points`, () => {
      expect(isUnitBounded(f.node)).toBe(true);
      expect(boundedOnExtremes(f)).toBe(true);
    });
  }

  const refused: [string, Formula][] = [
    ['exp(x·y)', xi.dot(yj).exp()],
    ['exp(−0·|x − y|²) (0·∞ is NaN)', xi.sub(yj).sqnorm2().mul(0).neg().exp()],
    ['exp(−p·|x − y|²), p a parameter (any sign)', xi.sub(yj).sqnorm2().mul(Pm(0.5, 'p')).neg().exp()],
    ['exp(−|x + y|²) (not a difference of points: proven only for x − y)', xi.add(yj).sqnorm2().neg().exp()],
    ['1/|x − y|²', xi.sub(yj).sqnorm2().inv()],
    ['x·y', xi.dot(yj)],
  ];
  for (const [name, f] of refused) {
    it(`refuses ${name}`, () => expect(isUnitBounded(f.node)).toBe(false));
  }

  it('the library kernels: Gaussian, Laplacian and Cauchy claimed; Matérn and polynomial checked', () => {
    const pts = [[0, 1], [2, 3]];
    expect(isUnitBounded(gaussianKernel(pts).formula.node)).toBe(true);
    expect(isUnitBounded(laplacianKernel(pts).formula.node)).toBe(true);
    expect(isUnitBounded(cauchyKernel(pts).formula.node)).toBe(true);
    expect(isUnitBounded(maternKernel(pts).formula.node)).toBe(false);
    expect(isUnitBounded(polynomialKernel(pts).formula.node)).toBe(false);
  });
});
