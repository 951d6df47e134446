/**
 * The structural symmetry check (src/formula/symmetry.ts): every `true` is verified against the dense matrix of the
 * JS twin (K_ij = K_ji entry by entry), and the formulas it must refuse are shown asymmetric the same way.
 */
import { describe, expect, it } from 'vitest';
import { Pm, Vi, Vj, max, min, type Formula } from '../../src/formula/builder.js';
import { evaluateDenseJs } from '../../src/formula/emit-js.js';
import { parseFormula } from '../../src/formula/parse.js';
import { isStructurallySymmetric } from '../../src/formula/symmetry.js';
import { seededPoints } from '../random-data.js';

const p = seededPoints(1, 7, 3);
const q = seededPoints(2, 7, 3);
const u = seededPoints(3, 7, 1);

function denseSymmetric(f: Formula): boolean {
  const K = evaluateDenseJs(f.node);
  const n = 7;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (Math.abs(K[i * n + j]! - K[j * n + i]!) > 1e-12 * (1 + Math.abs(K[i * n + j]!))) return false;
  return true;
}

describe('isStructurallySymmetric', () => {
  const x = Vi(p, 'x');
  const y = Vj(p, 'y'); // a separate copy of the same points: contents compared
  const symmetric: [string, Formula][] = [
    ['Gaussian (KeOps idiom)', x.sub(y).sqnorm2().mul(-50).exp()],
    ['Gaussian with y − x', y.sub(x).sqnorm2().mul(-50).exp()],
    ['string formula with a parameter', parseFormula('exp(-sqnorm2(x - y) / (2 * s^2))', { x, y, s: 0.3 })],
    ['Laplacian', x.sub(y).norm2().neg().exp()],
    ['abs of a scalar difference', Vi(u).sub(Vj(u)).abs().neg().exp()],
    ['square of the negated difference', Vi(u).sub(Vj(u)).neg().square()],
    ['even integer power', Vi(u).sub(Vj(u)).pow(4)],
    ['(x − y)·(x − y) written twice', parseFormula('dot(x - y, x - y)', { x, y })],
    ['linear kernel (commutative dot)', x.dot(y)],
    ['polynomial with commuted sum', y.dot(x).mul(Pm(0.5)).add(1).pow(3)],
    ['min/max of the two sides', min(Vi(u), Vj(u)).add(max(Vj(u), Vi(u)))],
    ['two pairs of variables', x.sub(y).sqnorm2().add(Vi(q, 'a').dot(Vj(q, 'b'))).neg().exp()],
  ];
  for (const [label, f] of symmetric) {
    it(`recognises ${label}`, () => {
      expect(denseSymmetric(f)).toBe(true);
      expect(isStructurallySymmetric(f.node)).toBe(true);
    });
  }

  const asymmetric: [string, Formula][] = [
    ['different points', Vi(p).sub(Vj(q)).sqnorm2().neg().exp()],
    ['an odd function of x − y', Vi(u).sub(Vj(u)).tanh()],
    ['odd integer power', Vi(u).sub(Vj(u)).pow(3)],
    ['x weighted, y not', Vi(p).mul(2).sub(Vj(p)).sqnorm2().neg().exp()],
    ['pairs crossed', Vi(p).dot(Vj(p)).add(Vi(u).mul(2).sub(Vj(u)).square())],
  ];
  for (const [label, f] of asymmetric) {
    it(`refuses ${label}`, () => {
      expect(denseSymmetric(f)).toBe(false);
      expect(isStructurallySymmetric(f.node)).toBe(false);
    });
  }

  it('compares contents, not only identity: one changed coordinate breaks the pairing', () => {
    const changed = p.map((row) => [...row]);
    changed[6]![2] = changed[6]![2]! + 1e-12;
    expect(isStructurallySymmetric(Vi(p).sub(Vj(changed)).sqnorm2().neg().exp().node)).toBe(false);
    expect(isStructurallySymmetric(Vi(p).sub(Vj(p.map((r) => [...r]))).sqnorm2().neg().exp().node)).toBe(true);
  });

  it('is sound but not complete: a symmetric product of two differences written oddly is not recognised', () => {
    const f = Vi(u).sub(Vj(u)).mul(Vj(u).sub(Vi(u))).neg();
    expect(denseSymmetric(f)).toBe(true);
    expect(isStructurallySymmetric(f.node)).toBe(false);
  });
});
