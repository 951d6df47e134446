/**
 * Errors of `gpNegativeLogMarginalLikelihood` name it, on its stochastic (SLQ) route too: a user who called it cannot
 * act on "inverseQuadLogdet: …" or "logdet: …", the internal functions the route runs. Each case forces the SLQ route
 * (method 'slq', or an option only SLQ reads) and meets one refusal: an asymmetric or indefinite K, probes cut short
 * by lanczosSteps or maxiter where nothing bounds their bias, the solve A⁻¹y stopped by maxiter, a y whose yᵀA⁻¹y
 * overflows, a preconditioner that cannot serve, an unknown preconditioner option. The message must name the public
 * function, keep saying what went wrong and what to do, and keep its error class; `logdet` and `inverseQuadLogdet`
 * called directly keep naming themselves.
 */
import { describe, expect, it } from 'vitest';
import { gpNegativeLogMarginalLikelihood } from '../../src/autodiff/gp.js';
import { inverseQuadLogdet, logdet } from '../../src/autodiff/slq.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { DenseOperator } from '../../src/operators/dense.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import { OptionRangeError } from '../../src/operators/options.js';
import { JacobiPreconditioner } from '../../src/preconditioners/jacobi.js';

const FN = 'gpNegativeLogMarginalLikelihood';
const pts = (n: number) => Array.from({ length: n }, (_, i) => [Math.sin(i), Math.cos(1.7 * i)]);
const ys = (n: number, scale = 1) => Float64Array.from({ length: n }, (_, i) => scale * Math.sin(2.1 * i + 0.3));

/** The kernel of pts(n) as a dense operator: symmetric, but with no structural bound on its spectrum (unlike a KernelOperator). */
async function denseKernel(n: number): Promise<DenseOperator> {
  return new DenseOperator(await gaussianKernel(pts(n), { sigma: 0.3 }).toDense(), undefined, { symmetric: true });
}

/** The error `p` rejects with: of class `cls`, its message opening with `fn: `, naming no other entry point, and matching `what`. */
async function refusal(p: Promise<unknown>, cls: new (...args: never[]) => Error, what: RegExp, fn = FN): Promise<Error> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e, 'expected a rejection').toBeInstanceOf(cls);
  const message = (e as Error).message;
  expect(message.startsWith(`${fn}: `), message).toBe(true);
  const others = ['gpNegativeLogMarginalLikelihood', 'inverseQuadLogdet', 'logdet', 'solve'].filter((name) => name !== fn);
  for (const name of others) expect(message, `names ${name}`).not.toMatch(new RegExp(`(^|[^\\w])${name}:`));
  if (fn !== 'inverseQuadLogdet') expect(message).not.toContain('inverseQuadLogdet');
  expect(message).toMatch(what);
  return e as Error;
}

describe('gpNegativeLogMarginalLikelihood: errors on the SLQ route name it', () => {
  it('an asymmetric K (method slq) is refused naming the GP, with what the route needs', async () => {
    await refusal(
      gpNegativeLogMarginalLikelihood(new DenseOperator([[2, 1], [0, 2]]), [1, 1], 0.1, { method: 'slq' }),
      RangeError, /is not symmetric \(.*entry \(0, 1\) = 1 differs from \(1, 0\) = 0\); .*symmetric positive definite/,
    );
  });

  it('an indefinite K + noise·I (method slq): the block CG breakdown names the GP, not logdet', async () => {
    // eigenvalues 3 and −1 of K: K + 0.1·I is indefinite
    await refusal(
      gpNegativeLogMarginalLikelihood(new DenseOperator([[1, 2], [2, 1]]), [1, 1], 0.1, { method: 'slq' }),
      RangeError, /pᵀA p = .* at step 1: A is not positive definite/,
    );
  });

  it('a K whose products are NaN (method slq): the breakdown says so and names the GP', async () => {
    const nan = aslinearoperator({ shape: [30, 30], symmetric: true, matvec: (x: Float64Array) => Float64Array.from(x, (v, t) => (t === 4 ? NaN : 2 * v)) });
    await refusal(gpNegativeLogMarginalLikelihood(nan, ys(30), 0.1, { method: 'slq' }), RangeError, /pᵀA p is NaN in column \d+ at step 1 \(the operator returned NaN\)/);
  });

  it('probes cut short by lanczosSteps with nothing to bound their bias: the refusal names the GP and what to raise', async () => {
    await refusal(
      gpNegativeLogMarginalLikelihood(await denseKernel(60), ys(60), 0.01, { method: 'slq', lanczosSteps: 2 }),
      RangeError, /lanczosSteps = 2 stopped 16 of 16 probes above probeRtol .*; raise lanczosSteps \(or leave it out\)/,
    );
  });

  it('probes cut short by a small maxiter (no lanczosSteps): the refusal names the GP and maxiter', async () => {
    await refusal(
      gpNegativeLogMarginalLikelihood(await denseKernel(60), ys(60), 0.01, { method: 'slq', maxiter: 3 }),
      RangeError, /maxiter = 3 stopped 16 of 16 probes/,
    );
  });

  it('the solve A⁻¹y stopped by maxiter: the non-convergence error names the GP, its iterations, residual and remedy', async () => {
    const K = gaussianKernel(pts(300), { sigma: 0.3 });
    await refusal(
      gpNegativeLogMarginalLikelihood(K, ys(300), 0.01, { method: 'slq', maxiter: 3 }),
      Error, /the solve A⁻¹y did not converge in 3 iterations \(relative residual .* > rtol 0\.000001\); raise maxiter or rtol/,
    );
  });

  it('a y whose yᵀA⁻¹y overflows float64 (SLQ route) is refused naming the GP and telling to scale y', async () => {
    const K = gaussianKernel(pts(300), { sigma: 0.3 });
    await refusal(gpNegativeLogMarginalLikelihood(K, ys(300, 1e160), 0.1, { method: 'slq' }), RangeError, /yᵀA⁻¹y = .* overflows float64; scale y/);
  });

  it('a preconditioner that cannot serve (noise 0 for pivoted Cholesky; a Jacobi P of the wrong size) names the GP', async () => {
    const K = gaussianKernel(pts(300), { sigma: 0.3 });
    await refusal(
      gpNegativeLogMarginalLikelihood(K, ys(300), 0, { preconditioner: 'pivoted-cholesky' }),
      RangeError, /preconditioner 'pivoted-cholesky' is built for A = c·\(K \+ αI\) with α > 0/,
    );
    const P = new JacobiPreconditioner(new Float64Array(5).fill(1), 0);
    await refusal(
      gpNegativeLogMarginalLikelihood(K, ys(300), 0.01, { preconditioner: P }),
      RangeError, /preconditioner .*JacobiPreconditioner.* has no exact log-determinant or probe sampler \(or is not 300x300\); use one of/,
    );
  });

  it('an unknown key in preconditionerOptions is refused naming the GP (not solve), with the closest key', async () => {
    const K = gaussianKernel(pts(300), { sigma: 0.3 });
    const e = await refusal(
      gpNegativeLogMarginalLikelihood(K, ys(300), 0.01, { preconditioner: 'pivoted-cholesky', preconditionerOptions: { rnk: 5 } as never }),
      OptionRangeError, /unknown option 'rnk' in preconditionerOptions \(did you mean 'rank'\?\)/,
    );
    expect((e as OptionRangeError).option).toBe('rnk');
  });
});

describe('logdet and inverseQuadLogdet called directly keep naming themselves', () => {
  const indefinite = new DenseOperator([[1, 2], [2, 1]]).shift(0.1);

  it('logdet (method slq) on an indefinite A names logdet', async () => {
    await refusal(logdet(indefinite, { method: 'slq' }), RangeError, /A is not positive definite/, 'logdet');
  });

  it('inverseQuadLogdet (method slq) on an indefinite A names inverseQuadLogdet, not logdet', async () => {
    await refusal(inverseQuadLogdet(indefinite, [1, 1], { method: 'slq' }), RangeError, /A is not positive definite/, 'inverseQuadLogdet');
  });

  it('an unknown key in preconditionerOptions names logdet (not solve)', async () => {
    const A = gaussianKernel(pts(300), { sigma: 0.3 }).shift(0.01);
    await refusal(
      logdet(A, { preconditioner: 'pivoted-cholesky', preconditionerOptions: { rnk: 5 } as never }),
      OptionRangeError, /unknown option 'rnk' in preconditionerOptions/, 'logdet',
    );
  });
});
