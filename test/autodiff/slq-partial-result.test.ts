/**
 * The SLQ route's stops carry their partial result (STYLE.md §3): where the solve A⁻¹y (the data column of the block
 * CG) ends at maxiter above rtol, or probes are cut short where nothing bounds their bias, `logdet`,
 * `inverseQuadLogdet` and `gpNegativeLogMarginalLikelihood` throw `SlqNoConvergence` — a RangeError, its message as
 * before — whose `result` holds the iterate x ≈ A⁻¹y, yᵀx, the iterations, the achieved relative residual, the
 * options that stopped it and the log det as the probes stopped. The residual is checked against ‖y − A x‖/‖y‖
 * computed here from A's dense entries (`toDense`).
 */
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { gpNegativeLogMarginalLikelihood } from '../../src/autodiff/gp.js';
import { inverseQuadLogdet, logdet, SlqNoConvergence } from '../../src/autodiff/slq.js';
import * as api from '../../src/index.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { DenseOperator } from '../../src/operators/dense.js';
import type { LinearOperator } from '../../src/operators/linear-operator.js';

const pts = (n: number) => Array.from({ length: n }, (_, i) => [Math.sin(i), Math.cos(1.7 * i)]);
const ys = (n: number, scale = 1) => Float64Array.from({ length: n }, (_, i) => scale * Math.sin(2.1 * i + 0.3));

/** The rejection of `p`, checked to be an SlqNoConvergence (and a RangeError, as the probe refusals were). */
async function stopped(p: Promise<unknown>): Promise<SlqNoConvergence> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e, 'expected a rejection').toBeInstanceOf(SlqNoConvergence);
  expect(e).toBeInstanceOf(RangeError);
  expect((e as Error).name).toBe('SlqNoConvergence');
  return e as SlqNoConvergence;
}

/** ‖y − A x‖/‖y‖ with A's dense entries (plus shift·I), in float64. */
async function trueRelativeResidual(A: LinearOperator, shift: number, x: Float64Array, y: Float64Array): Promise<number> {
  const D: Matrix = await A.toDense();
  let r2 = 0;
  let y2 = 0;
  for (let i = 0; i < y.length; i++) {
    let ax = shift * x[i]!;
    for (let j = 0; j < y.length; j++) ax += D.get(i, j) * x[j]!;
    r2 += (y[i]! - ax) ** 2;
    y2 += y[i]! ** 2;
  }
  return Math.sqrt(r2 / y2);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);

describe('SlqNoConvergence: the solve A⁻¹y stopped by maxiter carries its partial result', () => {
  it('gpNegativeLogMarginalLikelihood (maxiter 3): x, iterations, the true relative residual, rtol/maxiter, the log det', async () => {
    const n = 300;
    const noise = 0.01;
    const K = gaussianKernel(pts(n), { sigma: 0.3 });
    const y = ys(n);
    const e = await stopped(gpNegativeLogMarginalLikelihood(K, y, noise, { method: 'slq', maxiter: 3 }));
    const r = e.result;
    // the message as before: the GP's name, the iterations, the residual carried, the remedy
    expect(e.message).toBe(
      `gpNegativeLogMarginalLikelihood: the solve A⁻¹y did not converge in 3 iterations (relative residual ${r.relativeResidual!.toExponential(3)} > rtol 0.000001); raise maxiter or rtol`,
    );
    expect(r.cause).toBe('solve');
    expect(r.iterations).toBe(3);
    expect(r.maxiter).toBe(3);
    expect(r.rtol).toBe(1e-6);
    expect(r.probeRtol).toBe(1e-4);
    expect(r.lanczosSteps).toBeUndefined();
    expect(r.solve).toBeInstanceOf(Float64Array);
    expect(r.solve!.length).toBe(n);
    const truth = await trueRelativeResidual(K, noise, r.solve!, y);
    expect(Math.abs(r.relativeResidual! - truth)).toBeLessThanOrEqual(1e-10 * truth);
    expect(truth).toBeGreaterThan(1e-6);
    expect(r.solve!.every(Number.isFinite)).toBe(true);
    expect(r.inverseQuad).toBeCloseTo(dot(y, r.solve!), 10);
    // the probes, also cut at 3 steps, are bounded here (K + αI): the log det comes with its error bar
    expect(r.logdet.method).toBe('slq');
    expect(r.logdet.iterations).toHaveLength(16);
    expect(r.logdet.iterations.every((k) => k <= 3)).toBe(true);
    expect(r.logdet.truncationBound).toBeGreaterThan(0);
    expect(Number.isFinite(r.logdet.value) && r.logdet.stderr > 0).toBe(true);
  });

  it('inverseQuadLogdet (maxiter 4, a y scaled by 2⁻ᵉ inside): x and yᵀx come back unscaled, the residual is y’s', async () => {
    const n = 200;
    const K = gaussianKernel(pts(n), { sigma: 0.3 });
    const y = ys(n, 1e12);
    const e = await stopped(inverseQuadLogdet(K.shift(0.01), y, { method: 'slq', maxiter: 4, rtol: 1e-8 }));
    const r = e.result;
    expect(e.message).toMatch(/^inverseQuadLogdet: the solve A⁻¹y did not converge in 4 iterations \(relative residual .* > rtol 1e-8\); raise maxiter or rtol$/);
    expect(r.cause).toBe('solve');
    expect([r.iterations, r.maxiter, r.rtol]).toEqual([4, 4, 1e-8]);
    const truth = await trueRelativeResidual(K, 0.01, r.solve!, y);
    expect(Math.abs(r.relativeResidual! - truth)).toBeLessThanOrEqual(1e-10 * truth);
    expect(truth).toBeGreaterThan(1e-8);
    expect(Math.abs(r.inverseQuad! - dot(y, r.solve!))).toBeLessThanOrEqual(1e-12 * Math.abs(r.inverseQuad!));
  });
});

describe('SlqNoConvergence: probes cut short where nothing bounds their bias', () => {
  /** A symmetric dense kernel: no structural bound on its spectrum, so a probe stopped early is refused. */
  async function denseKernel(n: number): Promise<DenseOperator> {
    return new DenseOperator(await gaussianKernel(pts(n), { sigma: 0.3 }).toDense(), undefined, { symmetric: true });
  }

  it('logdet (maxiter 3): the log det as the probes stopped, without the bias it cannot bound; no data column', async () => {
    const A = (await denseKernel(60)).shift(0.01);
    const e = await stopped(logdet(A, { method: 'slq', maxiter: 3 }));
    const r = e.result;
    expect(e.message).toMatch(/^logdet: maxiter = 3 stopped 16 of 16 probes above probeRtol 0\.0001, and nothing bounds .*; raise lanczosSteps/);
    expect(r.cause).toBe('probes');
    expect([r.maxiter, r.probeRtol, r.lanczosSteps]).toEqual([3, 1e-4, undefined]);
    expect(r.solve).toBeUndefined();
    expect(r.iterations).toBeUndefined();
    expect(r.rtol).toBeUndefined();
    expect(r.logdet.iterations).toEqual(new Array(16).fill(3));
    expect(r.logdet.unconvergedProbes).toBe(16);
    expect(r.logdet.truncationBound).toBeUndefined();
    expect(r.logdet.matvecs).toBe(48);
    expect(Number.isFinite(r.logdet.value) && Number.isFinite(r.logdet.stderr)).toBe(true);
  });

  it('logdet (lanczosSteps 2): the cap is carried, maxiter its default 10·n', async () => {
    const A = (await denseKernel(60)).shift(0.01);
    const r = (await stopped(logdet(A, { method: 'slq', lanczosSteps: 2 }))).result;
    expect([r.cause, r.lanczosSteps, r.maxiter]).toEqual(['probes', 2, 600]);
    expect(r.logdet.iterations).toEqual(new Array(16).fill(2));
  });

  it('gpNegativeLogMarginalLikelihood on a dense K (maxiter 3): the data column’s iterate comes with the probes’', async () => {
    const n = 60;
    const K = await denseKernel(n);
    const y = ys(n);
    const e = await stopped(gpNegativeLogMarginalLikelihood(K, y, 0.01, { method: 'slq', maxiter: 3 }));
    const r = e.result;
    expect(e.message).toMatch(/^gpNegativeLogMarginalLikelihood: maxiter = 3 stopped 16 of 16 probes/);
    expect(r.cause).toBe('probes');
    expect([r.iterations, r.maxiter, r.rtol]).toEqual([3, 3, 1e-6]);
    const truth = await trueRelativeResidual(K, 0.01, r.solve!, y);
    expect(Math.abs(r.relativeResidual! - truth)).toBeLessThanOrEqual(1e-10 * truth);
  });
});

it('SlqNoConvergence is exported publicly, beside CgNoConvergence', () => {
  expect(typeof api.SlqNoConvergence).toBe('function');
  expect(api.SlqNoConvergence).toBe(SlqNoConvergence);
  expect(typeof api.CgNoConvergence).toBe('function');
});
