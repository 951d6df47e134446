/**
 * Beyond EXACT_RESIDUAL_MAX_PAIRS (2²⁸: n > 16,384) a float32 solve's residual on the exact entries is not measured
 * (src/preconditioners/solve.ts): x met rtol on the float32 entries, and their rounding may move it by up to the floor
 * ε₃₂·λ̂/α. A `returnInfo` result records that (`float32Entries.verifiedOn: 'float32'`); `K.solve`, which hides the
 * result object, returned x with no word of it. Now it warns (LAZYLINALG_FLOAT32_UNVERIFIED), once per operator.
 * n = 16,385 on the GPU (llvmpipe in CI): α = 1 and a wide Gaussian keep CG short (≈ 20 iterations) with the floor
 * (≈ 9e-4) above rtol.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { EXACT_RESIDUAL_MAX_PAIRS, type SolveResult } from '../../src/preconditioners/solve.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededPoints, seededVector } from '../random-data.js';
import { hasGpu } from './gpu-env.js';

afterAll(() => shutdownCpuPool());

/** The process warnings `run` emits (delivered on a later turn, hence the wait). */
async function warningsOf(run: () => Promise<unknown>): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (w: Error) => seen.push(w);
  process.on('warning', listener);
  try {
    await run();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen.filter((w) => (w as Error & { code?: string }).code === 'LAZYLINALG_FLOAT32_UNVERIFIED');
}

describe.runIf(hasGpu)('a float32 solve beyond the exact check (n = 16,385)', () => {
  const n = 16_385;
  it('K.solve warns that x was checked on the float32 entries only, naming the floor; returnInfo records it instead', async () => {
    expect(n * n).toBeGreaterThan(EXACT_RESIDUAL_MAX_PAIRS);
    const K = gaussianKernel(seededPoints(5, n, 3), { sigma: 2, backend: 'gpu' });
    const b = seededVector(6, n);
    const options = { preconditioner: 'none' } as const;
    const warned = await warningsOf(() => K.solve(b, 1, options));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toMatch(/meets rtol on the float32 entries of .*not measured.*ε₃₂·λ̂\/α = \d\.\d+e-\d+ .*α = 1\b.*returnInfo/);
    const r = await (async () => {
      let result: SolveResult | undefined;
      const again = await warningsOf(async () => { result = (await K.solve(b, 1, { ...options, returnInfo: true })) as SolveResult; });
      expect(again).toHaveLength(0); // the result object says it
      return result!;
    })();
    expect(r.info).toBe(0);
    expect(r.float32Entries?.verifiedOn).toBe('float32');
    expect(r.float32Entries!.floor).toBeGreaterThan(1e-5); // above rtol: the case the check is for
  }, 120_000);
});
