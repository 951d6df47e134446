/**
 * The GP negative log marginal likelihood against an independent dense float64 computation (ml-matrix Cholesky), and
 * its gradient against central finite differences of that dense NLL: exact on the Cholesky route, within the
 * estimator's error bars on the SLQ route.
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { gpNegativeLogMarginalLikelihood } from '../../src/autodiff/gp.js';
import { gaussianKernel, kernelOperator, maternKernel } from '../../src/operators/kernels.js';
import type { KernelOperator } from '../../src/operators/kernel-operator.js';
import { Vi, Vj } from '../../src/formula/index.js';
import { DenseOperator } from '../../src/operators/dense.js';
import { seededPoints, seededVector } from '../random-data.js';
import { gaussianDenseWithSigmaDerivative } from './helpers.js';

const n = 300;
const X = seededPoints(11, n, 3);
const y = seededVector(12, n);

function denseNll(K: Matrix, noise: number): number {
  const A = K.clone().add(Matrix.eye(n).mul(noise));
  const c = new CholeskyDecomposition(A);
  const L = c.lowerTriangularMatrix;
  let ld = 0;
  for (let i = 0; i < n; i++) ld += 2 * Math.log(L.get(i, i));
  const u = c.solve(Matrix.columnVector([...y])).getColumn(0);
  const q = u.reduce((s, v, i) => s + v * y[i]!, 0);
  return 0.5 * (q + ld + n * Math.log(2 * Math.PI));
}

/** K of the Gaussian kernel at σ over X, and ∂K/∂σ, densely. */
const gaussianDense = (sigma: number) => gaussianDenseWithSigmaDerivative(X, sigma);

const sym = (M: Matrix) => new DenseOperator(M, undefined, { symmetric: true });

describe('gpNegativeLogMarginalLikelihood', () => {
  const sigma = 0.3;
  const noise = 0.05;
  const { K: Kd, dK } = gaussianDense(sigma);
  const h = 1e-5;
  const fdNoise = (denseNll(Kd, noise + h) - denseNll(Kd, noise - h)) / (2 * h);
  const fdSigma = (denseNll(gaussianDense(sigma + h).K, noise) - denseNll(gaussianDense(sigma - h).K, noise)) / (2 * h);

  it('Cholesky route: value equals the dense NLL, gradient equals central differences (rel 1e-6)', async () => {
    const K = gaussianKernel(X, { sigma });
    const r = await gpNegativeLogMarginalLikelihood(K, y, noise, { method: 'cholesky', derivatives: { sigma: sym(dK) } });
    expect(r.method).toBe('cholesky');
    const ref = denseNll(Kd, noise);
    expect(Math.abs(r.value - ref)).toBeLessThan(1e-10 * Math.abs(ref));
    expect(Math.abs(r.grad.noise - fdNoise)).toBeLessThan(1e-6 * Math.abs(fdNoise));
    expect(Math.abs(r.grad.sigma! - fdSigma)).toBeLessThan(1e-6 * Math.abs(fdSigma));
  });

  const families: Record<string, (theta: Record<string, number>) => KernelOperator> = {
    gaussian: (t) => gaussianKernel(X, { sigma: t['sigma']! }),
    'matern 2.5': (t) => maternKernel(X, { sigma: t['sigma']!, nu: 2.5 }),
    'string formula with Pm': (t) => kernelOperator('c * exp(-sqnorm2(x - y) / (2 * s^2))', { x: Vi(X), y: Vj(X), s: t['s']!, c: t['c']! }),
  };
  const thetas: Record<string, Record<string, number>> = { gaussian: { sigma: 0.3 }, 'matern 2.5': { sigma: 0.3 }, 'string formula with Pm': { s: 0.25, c: 1.5 } };
  for (const [name, make] of Object.entries(families)) {
    it(`${name}: the symbolic parameter derivatives give every gradient entry (Cholesky route, rel 1e-6 to central differences)`, async () => {
      const theta = thetas[name]!;
      const r = await gpNegativeLogMarginalLikelihood(make(theta), y, noise, { method: 'cholesky' });
      expect(Object.keys(r.grad).sort()).toEqual(['noise', ...Object.keys(theta)].sort());
      for (const p of Object.keys(theta)) {
        const at = async (v: number) => denseNll(await make({ ...theta, [p]: v }).toDense(), noise);
        const fd = ((await at(theta[p]! + h)) - (await at(theta[p]! - h))) / (2 * h);
        expect(Math.abs(r.grad[p]! - fd)).toBeLessThan(1e-6 * Math.abs(fd));
      }
    });
  }

  it('SLQ route: value and gradient within 4 standard errors of the dense ones (Gaussian and Matérn 2.5)', async () => {
    for (const [K, Kdense] of [[gaussianKernel(X, { sigma }), Kd], [maternKernel(X, { sigma, nu: 2.5 }), undefined]] as const) {
      const KD = Kdense ?? (await K.toDense());
      const r = await gpNegativeLogMarginalLikelihood(K, y, noise, {
        method: 'slq', probes: 32, seed: 1, preconditioner: 'pivoted-cholesky', preconditionerOptions: { rank: 60 },
      });
      expect(r.method).toBe('slq');
      const ref = denseNll(KD, noise);
      expect(Math.abs(r.value - ref)).toBeLessThan(4 * r.stderr.value + 1e-9 * Math.abs(ref));
      const fdN = (denseNll(KD, noise + h) - denseNll(KD, noise - h)) / (2 * h);
      expect(Math.abs(r.grad.noise - fdN)).toBeLessThan(4 * r.stderr.noise!);
      expect(r.stderr.noise!).toBeLessThan(0.05 * Math.abs(fdN));
      if (Kdense) expect(Math.abs(r.grad.sigma! - fdSigma)).toBeLessThan(4 * r.stderr.sigma! + 1e-6 * Math.abs(fdSigma));
    }
  });

  it("'auto' takes the dense route at small n and says why", async () => {
    const r = await gpNegativeLogMarginalLikelihood(gaussianKernel(X, { sigma }), y, noise);
    expect(r.method).toBe('cholesky');
    expect(r.reason).toMatch(/300/);
  });

  it('refuses bad input, naming the value', async () => {
    const K = gaussianKernel(X, { sigma });
    await expect(gpNegativeLogMarginalLikelihood(K, y, -0.1)).rejects.toThrow(/-0\.1/);
    await expect(gpNegativeLogMarginalLikelihood(K, y, NaN)).rejects.toThrow(/NaN/);
    await expect(gpNegativeLogMarginalLikelihood(K, y.slice(1), noise)).rejects.toThrow(/299|300/);
    const bad = Float64Array.from(y);
    bad[3] = NaN;
    await expect(gpNegativeLogMarginalLikelihood(K, bad, noise)).rejects.toThrow(/entry 3 .*NaN/);
    await expect(gpNegativeLogMarginalLikelihood(K, y, noise, { metod: 'slq' } as never)).rejects.toThrow(/metod/);
    await expect(gpNegativeLogMarginalLikelihood(K, y, noise, { method: 'lu' } as never)).rejects.toThrow(/lu/);
    await expect(gpNegativeLogMarginalLikelihood(K, y, noise, { derivatives: { sigma: sym(Matrix.eye(3)) } })).rejects.toThrow(/derivatives\.sigma has shape 3x3/);
    await expect(gpNegativeLogMarginalLikelihood(gaussianKernel(X, { y: X.slice(0, 5) }), y, noise)).rejects.toThrow(/square/);
    await expect(gpNegativeLogMarginalLikelihood(K, y, noise, { parameters: ['gamma'] })).rejects.toThrow(/'gamma'/);
    // the Cholesky route read the upper triangle of a K that is not symmetric (before: a value without meaning)
    await expect(gpNegativeLogMarginalLikelihood(new DenseOperator([[2, 1], [0, 2]]), [1, 1], 0.1)).rejects.toThrow(/K is not symmetric .*entry \(0, 1\) = 1 differs from \(1, 0\) = 0/);
  });
});
