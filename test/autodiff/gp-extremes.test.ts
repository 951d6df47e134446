/**
 * Log-determinants and GP likelihoods at the extremes, against numpy float64 references (the constants below): extreme
 * noise and bandwidths, duplicated points, n = 1 and 2, d = 64, y far from 1, Lanczos steps below convergence, and the
 * honesty of the error bars where the probes' spread is not the whole error.
 *
 * The references were made by (numpy 1.x, scipy):
 *
 *   import numpy as np
 *   from scipy.linalg import cho_factor, cho_solve
 *   def pts(n): i = np.arange(n); return np.stack([np.sin(i), np.cos(1.7 * i)], 1)
 *   def gp(X, y, s, noise):
 *       D2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1) / s**2
 *       K = np.exp(-D2 / 2); n = len(y)
 *       c = cho_factor(K + noise * np.eye(n)); u = cho_solve(c, y); Ai = cho_solve(c, np.eye(n))
 *       ld = 2 * np.log(np.diag(c[0])).sum(); dK = K * D2 / s
 *       return dict(logdet=ld, value=0.5 * (y @ u + ld + n * np.log(2 * np.pi)),
 *                   noise=0.5 * (np.trace(Ai) - u @ u), sigma=0.5 * ((Ai * dK).sum() - u @ dK @ u))
 *   y = lambda n: np.sin(2.1 * np.arange(n) + 0.3)
 *   gp(pts(300), y(300), 0.3, 0.01)                    # MID
 *   gp(pts(300), y(300), 0.6, 1e-3)                    # SMOOTH
 *   gp(pts(400), y(400), 0.1, 0.01)                    # LOCAL
 *   gp(pts(30), y(30), s, a) for (s, a) in EXTREMES     # and the rows 'duplicated', 'n = 1', 'n = 2', 'd = 64':
 *   gp(np.vstack([pts(15), pts(15)]), y(30), 0.3, 0.01); gp(pts(1), y(1), 0.3, 0.1); gp(pts(2), y(2), 0.3, 0.1)
 *   gp(np.sin(np.arange(30)[:, None] * 1.3 + np.arange(64)[None, :] * 0.7), y(30), 4.0, 0.1)
 *   gp(pts(30), 1e154 * y(30), 0.3, 1e4)               # BIG_Y
 */
import { describe, expect, it } from 'vitest';
import { gpNegativeLogMarginalLikelihood } from '../../src/autodiff/gp.js';
import { inverseQuadLogdet, logdet } from '../../src/autodiff/slq.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { DenseOperator } from '../../src/operators/dense.js';

const pts = (n: number) => Array.from({ length: n }, (_, i) => [Math.sin(i), Math.cos(1.7 * i)]);
const ys = (n: number, scale = 1) => Float64Array.from({ length: n }, (_, i) => scale * Math.sin(2.1 * i + 0.3));

interface Ref { logdet: number; value: number; noise: number; sigma: number }
const MID: Ref = { logdet: -1048.7359341256993, value: 3554.0776204195017, noise: -359888.69538608094, sigma: 1815.7469958420897 };
const SMOOTH: Ref = { logdet: -1838.5980738328378, value: 39372.94146711581, noise: -39195866.23037482, sigma: 8378.355400868864 };
const LOCAL: Ref = { logdet: -685.1130406993029, value: 2195.66551644821, noise: -154113.60914032048, sigma: 40164.10049792789 };
const BIG_Y: Ref = { logdet: 276.31321084049114, value: 7.487661456312695e+304, noise: -7.486794521925618e+300, sigma: 9.200879944847226e+300 };

/** [name, points, y, σ, noise, reference, relative tolerance]: n = 30 unless said. */
const X64 = Array.from({ length: 30 }, (_, i) => Array.from({ length: 64 }, (_, k) => Math.sin(i * 1.3 + k * 0.7)));
const EXTREMES: [string, number[][], Float64Array, number, number, Ref, number][] = [
  ['noise 1e-10 (cond ~1e11)', pts(30), ys(30), 0.3, 1e-10, { logdet: -29.10496376558006, value: 39.3051090367282, noise: -761.9036795260563, sigma: 199.3213076955572 }, 1e-5],
  ['noise 1e4', pts(30), ys(30), 0.3, 1e4, { logdet: 276.31321084049114, value: 165.72551018253137, noise: 0.001499775163931552, sigma: -3.4042599685063233e-07 }, 1e-9],
  ['σ 1e-6 (K = I)', pts(30), ys(30), 1e-6, 0.01, { logdet: 0.2985099255950379, value: 35.13179565284132, noise: 7.510510204055826, sigma: 0 }, 1e-9],
  ['σ 1e6 (K = 11ᵀ, rank one)', pts(30), ys(30), 1e6, 0.01, { logdet: -130.14840473123402, value: 711.3408481395771, noise: -73434.67259122645, sigma: -4.171771333240673e-16 }, 1e-9],
  ['duplicated points', [...pts(15), ...pts(15)], ys(30), 0.3, 0.01, { logdet: -63.51306552621312, value: 2.745098420080833, noise: 619.1220447974711, sigma: 8.2875397425421 }, 1e-9],
  ['n = 1', pts(1), ys(1), 0.3, 0.1, { logdet: 0.09531017980432502, value: 1.0062900742637264, noise: 0.4184577716755533, sigma: 0 }, 1e-12],
  ['n = 2', pts(2), ys(2), 0.3, 0.1, { logdet: 0.19062035938409005, value: 2.180267572655326, noise: 0.6844749026281356, sigma: -0.0001996639912845069 }, 1e-9],
  ['d = 64', X64, ys(30), 4, 0.1, { logdet: -41.886635397711785, value: 77.23519977682035, noise: -595.214293003692, sigma: -1.6460159955373166 }, 1e-9],
];

const close = (a: number, b: number, rel: number, abs = 1e-12) => Math.abs(a - b) <= rel * Math.abs(b) + abs;

describe('GP likelihood and log det at the extremes (numpy references)', () => {
  it('the dense route (n ≤ 1000, what ran is said) matches numpy: extreme noise and σ, duplicated points, n = 1, 2, d = 64', async () => {
    for (const [name, X, y, sigma, noise, ref, rel] of EXTREMES) {
      const K = gaussianKernel(X, { sigma });
      const r = await gpNegativeLogMarginalLikelihood(K, y, noise);
      expect(r.method, name).toBe('cholesky');
      expect(r.reason, name).toMatch(/dense float64 Cholesky/);
      expect(r.stderr.value, name).toBe(0);
      expect(close(r.value, ref.value, rel), `${name}: value ${r.value} vs ${ref.value}`).toBe(true);
      expect(close(r.logdet, ref.logdet, rel), `${name}: logdet ${r.logdet} vs ${ref.logdet}`).toBe(true);
      expect(close(r.grad.noise, ref.noise, rel), `${name}: ∂/∂noise ${r.grad.noise} vs ${ref.noise}`).toBe(true);
      expect(close(r.grad.sigma!, ref.sigma, rel, 1e-12 * Math.abs(ref.noise)), `${name}: ∂/∂σ ${r.grad.sigma} vs ${ref.sigma}`).toBe(true);
      expect(close((await logdet(K.shift(noise))).value, ref.logdet, rel), name).toBe(true);
    }
  });

  it('y far from 1: 1e154·ŷ at noise 1e4 (‖y‖² overflows, yᵀA⁻¹y does not) on both routes; an NLL beyond float64 is refused by name', async () => {
    const K = gaussianKernel(pts(30), { sigma: 0.3 });
    const y = ys(30, 1e154);
    for (const method of ['cholesky', 'slq'] as const) {
      const r = await gpNegativeLogMarginalLikelihood(K, y, 1e4, { method });
      expect(close(r.value, BIG_Y.value, 1e-9), `${method}: ${r.value}`).toBe(true);
      expect(close(r.grad.noise, BIG_Y.noise, 1e-6), `${method}: ${r.grad.noise}`).toBe(true);
      expect(close(r.grad.sigma!, BIG_Y.sigma, 1e-6), `${method}: ${r.grad.sigma}`).toBe(true);
    }
    // yᵀA⁻¹y ≈ 1e317: before, NaN on the dense route, and "the operator returned NaN" on the SLQ route
    for (const method of ['cholesky', 'slq'] as const) {
      await expect(gpNegativeLogMarginalLikelihood(K, ys(30, 1e160), 0.1, { method })).rejects.toThrow(/yᵀA⁻¹y = .* overflows float64; scale y/);
    }
  });

  it('lanczosSteps below convergence: the error bar of log det holds the truncated quadrature (Gauss–Radau), in every seed', async () => {
    const A = gaussianKernel(pts(300), { sigma: 0.3 }).shift(0.01);
    for (let seed = 0; seed < 5; seed++) {
      const r = await logdet(A, { method: 'slq', preconditioner: 'none', lanczosSteps: 10, seed });
      // before: 10–17 standard errors off, the bias of Gauss quadrature outside the error bar
      expect(Math.abs(r.value - MID.logdet), `seed ${seed}: ${r.value} ± ${r.stderr}`).toBeLessThan(2 * r.stderr);
      expect(r.unconvergedProbes).toBe(16);
      expect(r.truncationBound!).toBeGreaterThan(0);
      expect(r.stderr).toBeGreaterThanOrEqual(r.truncationBound!);
    }
    const full = await logdet(A, { method: 'slq', preconditioner: 'none', seed: 0 });
    expect(full.truncationBound!).toBeLessThan(1e-3 * full.stderr);
  });

  it('lanczosSteps below convergence: the GP value and gradient keep the truncation inside their error bars', async () => {
    const K = gaussianKernel(pts(300), { sigma: 0.3 });
    for (let seed = 0; seed < 3; seed++) {
      const r = await gpNegativeLogMarginalLikelihood(K, ys(300), 0.01, { method: 'slq', preconditioner: 'none', lanczosSteps: 10, seed });
      expect(Math.abs(r.value - MID.value), `seed ${seed}`).toBeLessThan(2 * r.stderr.value);
      expect(Math.abs(r.grad.noise - MID.noise), `seed ${seed}`).toBeLessThan(2 * r.stderr.noise);
      expect(Math.abs(r.grad.sigma! - MID.sigma), `seed ${seed}`).toBeLessThan(2 * r.stderr.sigma!);
    }
  });

  it('a probe cut short where nothing bounds its bias (no structure to bound λ_min) is refused, not returned', async () => {
    const Kd = await gaussianKernel(pts(300), { sigma: 0.3 }).toDense();
    const A = new DenseOperator(Kd, undefined, { symmetric: true }).shift(0.01);
    await expect(logdet(A, { method: 'slq', lanczosSteps: 10 })).rejects.toThrow(/lanczosSteps = 10 stopped 16 of 16 probes/);
    await expect(inverseQuadLogdet(A, ys(300), { method: 'slq', lanczosSteps: 10 })).rejects.toThrow(/lanczosSteps = 10 stopped/);
    const K = new DenseOperator(Kd, undefined, { symmetric: true });
    await expect(gpNegativeLogMarginalLikelihood(K, ys(300), 0.01, { method: 'slq', lanczosSteps: 10 })).rejects.toThrow(/lanczosSteps = 10 stopped/);
    // converged probes (no cap) keep working on such an operator
    const r = await logdet(A, { method: 'slq' });
    expect(r.truncationBound).toBeUndefined();
    expect(Math.abs(r.value - MID.logdet)).toBeLessThan(4 * r.stderr);
  });

  it('P ≈ A (one CG step): the error bars count the solves\' tolerances, not only the probes\' spread', async () => {
    const K = gaussianKernel(pts(300), { sigma: 0.6 });
    const r = await gpNegativeLogMarginalLikelihood(K, ys(300), 1e-3, { method: 'slq', preconditioner: 'pivoted-cholesky', preconditionerOptions: { rank: 100 } });
    expect(Math.max(...r.iterations!.probes)).toBeLessThanOrEqual(2);
    // before: the σ-gradient ~1e4 of its error bar off (an error bar of 1e-13 relative, the solve's rtol 1e-6 not in it)
    expect(Math.abs(r.value - SMOOTH.value)).toBeLessThan(3 * r.stderr.value + 1e-12 * SMOOTH.value);
    expect(Math.abs(r.grad.noise - SMOOTH.noise)).toBeLessThan(3 * r.stderr.noise);
    expect(Math.abs(r.grad.sigma! - SMOOTH.sigma)).toBeLessThan(3 * r.stderr.sigma!);
    expect(r.stderr.sigma!).toBeLessThan(1e-6 * Math.abs(SMOOTH.sigma));
  });

  it('a local kernel with a pivoted-Cholesky P: the control variate of ∂K/∂σ\'s trace never widens its error bar', async () => {
    const K = gaussianKernel(pts(400), { sigma: 0.1 });
    const o = { method: 'slq', preconditioner: 'pivoted-cholesky', seed: 2 } as const;
    const all = await gpNegativeLogMarginalLikelihood(K, ys(400), 0.01, o); // traceControlVariate 'all', the default
    const plain = await gpNegativeLogMarginalLikelihood(K, ys(400), 0.01, { ...o, traceControlVariate: 'auto' }); // none for ∂K/∂σ
    expect(all.stderr.sigma!).toBeLessThan(1.25 * plain.stderr.sigma!);
    expect(Math.abs(all.grad.sigma! - LOCAL.sigma)).toBeLessThan(3 * all.stderr.sigma!);
    expect(Math.abs(all.value - LOCAL.value)).toBeLessThan(3 * all.stderr.value);
  });

  it('options: wrong types and values are errors naming the value and its type', async () => {
    const K = gaussianKernel(pts(30), { sigma: 0.3 });
    const A = K.shift(0.1);
    await expect(logdet(A, { probes: '10' } as never)).rejects.toThrow(/probes must be an integer ≥ 1, got a string "10"/);
    await expect(logdet(A, { lanczosSteps: 0 })).rejects.toThrow(/lanczosSteps must be an integer ≥ 1, got number 0/);
    await expect(logdet(A, { seed: 1.5 })).rejects.toThrow(/seed must be an integer, got number 1\.5/);
    await expect(logdet(A, { probe: 10 } as never)).rejects.toThrow(/unknown option 'probe'.*did you mean 'probes'/);
    await expect(gpNegativeLogMarginalLikelihood(K, ys(30), -1)).rejects.toThrow(/must be ≥ 0, got -1/);
    await expect(gpNegativeLogMarginalLikelihood(K, ys(30), '0.1' as never)).rejects.toThrow(/got a string "0\.1"/);
    const bad = ys(30);
    bad[4] = Infinity;
    await expect(gpNegativeLogMarginalLikelihood(K, bad, 0.1)).rejects.toThrow(/entry 4 of the vector is Infinity/);
  });
});
