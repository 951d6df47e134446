/**
 * The device landmark preconditioner as SLQ's P on the software GPU adapter: its exact log det P and its probes'
 * covariance against the dense P materialised from its own applications (P = (P⁻¹)⁻¹, float64 ml-matrix), both core
 * factorisations (device double-float, host WASM) and after `stiffen`; SLQ's 'auto' choice by backend; and the GP
 * NLL + gradient through it against the dense float64 computation (ml-matrix) within the estimator's error bars.
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix, inverse } from 'ml-matrix';
import { gpNegativeLogMarginalLikelihood } from '../../src/autodiff/gp.js';
import { autoLogdetPreconditioner } from '../../src/autodiff/slq.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { deviceLandmarkPreconditioner, type DeviceLandmarkPreconditioner } from '../../src/preconditioners/device-landmarks.js';
import { mulberry32 } from '../random-data.js';
import { hasGpu } from '../gpu/gpu-env.js';
import { gaussianDenseWithSigmaDerivative } from './helpers.js';

function cube(seed: number, n: number): number[][] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => Array.from({ length: 3 }, () => Math.fround(r())));
}

function denseLogdet(A: Matrix): number {
  const L = new CholeskyDecomposition(A).lowerTriangularMatrix;
  let s = 0;
  for (let i = 0; i < A.rows; i++) s += 2 * Math.log(L.get(i, i));
  return s;
}

/**
 * log det P against −log det of the dense P⁻¹: they differ by the term log det(I + E/(ν + j)) that log det P leaves
 * out (E the rounding of the float32 Gram its core factors: the device and host cores agree, so it is not theirs),
 * 4·10⁻⁵ of 381 here: a relative 10⁻⁶ bounds it, far below any SLQ error bar.
 */
function expectLogdetOf(P: DeviceLandmarkPreconditioner, Pinv: Matrix): void {
  const exact = -denseLogdet(Pinv);
  expect(Math.abs(P.logdet() - exact)).toBeLessThan(1e-6 * Math.abs(exact));
}

/** P⁻¹ from n applications, symmetrised. */
async function denseInverse(P: DeviceLandmarkPreconditioner): Promise<Matrix> {
  const Pinv = await P.toDense();
  return Pinv.add(Pinv.transpose()).mul(0.5);
}

describe('SLQ auto preconditioner', () => {
  it("picks device landmarks for a GPU kernel where solve does (n ≥ 4096), pivoted Cholesky on the CPU, none below n = 1000", () => {
    const pts = (n: number) => ({ data: new Float64Array(3 * n), rows: n, cols: 3 });
    expect(autoLogdetPreconditioner(gaussianKernel(pts(5000), { backend: 'gpu' }).shift(0.1))).toBe('device-landmarks');
    expect(autoLogdetPreconditioner(gaussianKernel(pts(5000), { backend: 'cpu' }).shift(0.1))).toBe('pivoted-cholesky');
    expect(autoLogdetPreconditioner(gaussianKernel(pts(2000), { backend: 'gpu' }).shift(0.1))).toBe('pivoted-cholesky');
    expect(autoLogdetPreconditioner(gaussianKernel(pts(500), { backend: 'gpu' }).shift(0.1))).toBe('none');
    expect(autoLogdetPreconditioner(undefined)).toBe('none');
  });
});

describe.runIf(hasGpu)('device landmark preconditioner: log det P and probes', () => {
  const X = cube(3, 160);
  const K = gaussianKernel(X, { sigma: 0.3, backend: 'gpu' });

  for (const coreFactor of ['device', 'host'] as const) {
    it(`log det P against the dense log det of the P it applies (core on the ${coreFactor}), also after stiffen`, async () => {
      const P = await deviceLandmarkPreconditioner(K, { rank: 24, shift: 0.05, coreFactor });
      try {
        expectLogdetOf(P, await denseInverse(P));
        // the jitter is part of P: stiffening raises it, and log det P follows
        await P.stiffen();
        expectLogdetOf(P, await denseInverse(P));
      } finally {
        await P.dispose();
      }
    });
  }

  it('a large jitter changes log det P as the formula with c = ν/(ν + j) says (the ideal νI + BBᵀ would not)', async () => {
    const P = await deviceLandmarkPreconditioner(K, { rank: 24, shift: 0.05, jitter: 0.05 });
    try {
      expect(P.jitter).toBeGreaterThan(0.01);
      const Pinv = await denseInverse(P);
      expectLogdetOf(P, Pinv);
      // leaving c out (P = νI + BBᵀ) would shift log det P by up to m·log(1 + j/ν): far beyond the tolerance
      expect(P.rank * Math.log(1 + P.jitter / P.nu)).toBeGreaterThan(1e-3 * Math.abs(P.logdet()));
    } finally {
      await P.dispose();
    }
  });

  it('E[z zᵀ] = P (c·BBᵀ + νI, a large jitter): the sample covariance of many probes approaches the dense P', async () => {
    const small = gaussianKernel(X.slice(0, 60), { sigma: 0.3, backend: 'gpu' });
    const P = await deviceLandmarkPreconditioner(small, { rank: 12, shift: 0.05, jitter: 0.05 }); // c = ν/(ν + j) well below 1
    try {
      const n = 60;
      const Pd = inverse(await denseInverse(P));
      const t = 3000;
      const Z = await P.sampleProbes(t, mulberry32(4));
      // each entry of the sample covariance has standard error √((P_ii P_jj + P_ij²)/t): 5 of them bound it
      let worst = 0;
      for (let i = 0; i < n; i += 3) {
        for (let j = 0; j < n; j += 5) {
          let s = 0;
          for (let c = 0; c < t; c++) s += Z.data[i * t + c]! * Z.data[j * t + c]!;
          const se = Math.sqrt((Pd.get(i, i) * Pd.get(j, j) + Pd.get(i, j) ** 2) / t);
          worst = Math.max(worst, Math.abs(s / t - Pd.get(i, j)) / se);
        }
      }
      expect(worst).toBeLessThan(5);
      // and the mean is 0 within its standard error
      let mean = 0;
      for (let c = 0; c < t; c++) mean += Z.data[c]!;
      expect(Math.abs(mean / t)).toBeLessThan(5 * Math.sqrt(Pd.get(0, 0) / t));
    } finally {
      await P.dispose();
      await small.dispose();
    }
  });
});

describe.runIf(hasGpu)('GP NLL through SLQ with device landmarks (float32 GPU products)', () => {
  it('value and gradient (noise, σ) within 4 standard errors of the dense float64 computation, n = 600', async () => {
    const n = 600;
    const sigma = 0.2;
    const noise = 0.05;
    const X = cube(21, n);
    const r = mulberry32(22);
    const y = Float64Array.from(X, (p) => Math.sin(4 * p[0]!) + p[2]! + 0.2 * (r() - 0.5));
    // dense float64 reference: K, ∂K/∂σ = K ∘ r²/σ³, A = K + noise·I
    const { K: Kd, dK } = gaussianDenseWithSigmaDerivative(X, sigma);
    const A = Kd.clone().add(Matrix.eye(n).mul(noise));
    const chol = new CholeskyDecomposition(A);
    const Ainv = chol.solve(Matrix.eye(n));
    const u = chol.solve(Matrix.columnVector([...y])).getColumn(0);
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < n; i++) s += a[i]! * b[i]!; return s; };
    const exact = {
      value: 0.5 * (dot(y, u) + denseLogdet(A) + n * Math.log(2 * Math.PI)),
      noise: 0.5 * (Ainv.trace() - dot(u, u)),
      sigma: 0.5 * (Ainv.mmul(dK).trace() - dot(u, dK.mmul(Matrix.columnVector(u)).getColumn(0))),
    };

    const K = gaussianKernel(X, { sigma, backend: 'gpu' });
    try {
      const got = await gpNegativeLogMarginalLikelihood(K, y, noise, {
        method: 'slq', probes: 24, seed: 1, preconditioner: 'device-landmarks', preconditionerOptions: { rank: 64 },
      });
      expect(got.method).toBe('slq');
      // float32 products perturb K by ≈ 1e-7 relative: a slack far below the error bars
      expect(Math.abs(got.value - exact.value)).toBeLessThan(4 * got.stderr.value + 1e-5 * Math.abs(exact.value));
      expect(Math.abs(got.grad.noise - exact.noise)).toBeLessThan(4 * got.stderr['noise']! + 1e-4 * Math.abs(exact.noise));
      expect(Math.abs(got.grad['sigma']! - exact.sigma)).toBeLessThan(4 * got.stderr['sigma']! + 1e-4 * Math.abs(exact.sigma));
      // the error bars say something: each well below the value it bounds
      expect(got.stderr.value).toBeLessThan(0.01 * Math.abs(got.logdet));
      expect(got.stderr['noise']!).toBeLessThan(0.1 * Math.abs(exact.noise));
    } finally {
      await K.dispose();
    }
  });
});
