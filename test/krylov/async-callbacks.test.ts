/**
 * A user's async callback is awaited: its rejection rejects the call that made it, where, left unawaited, it was an
 * unhandled rejection that ended the process (cg's `callback: async () => { throw … }` did). And a resolving one
 * finishes before the next is made.
 */
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { cg } from '../../src/krylov/cg.js';
import { minres } from '../../src/krylov/minres.js';
import { eigsh } from '../../src/krylov/eigsh.js';
import { lobpcg } from '../../src/krylov/lobpcg.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { solveShifted } from '../../src/preconditioners/index.js';
import { spectralClustering } from '../../src/apps/spectral-clustering.js';
import { twoMoons } from '../../src/apps/datasets.js';
import { seededPoints, seededVector } from '../random-data.js';

const rejecting = async (): Promise<void> => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  throw new Error('async boom');
};

describe('async callbacks', () => {
  const K = gaussianKernel(seededPoints(1, 300, 2), { sigma: 0.2 });
  const b = seededVector(2, 300);

  it('a rejection rejects the solver that called it', async () => {
    await expect(cg(K.shift(1e-3), b, { callback: rejecting })).rejects.toThrow('async boom');
    await expect(cg(K.shift(1e-3), b, { onProgress: rejecting })).rejects.toThrow('async boom');
    await expect(minres(K.shift(1e-3), b, { callback: rejecting })).rejects.toThrow('async boom');
    await expect(eigsh(K, 3, { onProgress: rejecting })).rejects.toThrow('async boom');
    await expect(eigsh(K, 3, { method: 'dense', onProgress: rejecting })).rejects.toThrow('async boom');
    const X = new Matrix(Array.from({ length: 300 }, (_, i) => [Math.sin(i + 1), Math.cos(2 * i + 1), Math.sin(3 * i + 2)]));
    await expect(lobpcg(K, X, { onProgress: rejecting })).rejects.toThrow('async boom');
    await expect(solveShifted(K, b, 1e-3, { onProgress: rejecting })).rejects.toThrow('async boom');
    await expect(spectralClustering(twoMoons(200, { seed: 1 }).points, { nClusters: 2, onProgress: rejecting })).rejects.toThrow('async boom');
    // k-means reports from synchronous code: its restarts' rejection too
    const onlyKmeans = async (p: { stage: string }): Promise<void> => { if (p.stage === 'kmeans') await rejecting(); };
    await expect(spectralClustering(twoMoons(200, { seed: 1 }).points, { nClusters: 2, onProgress: onlyKmeans })).rejects.toThrow('async boom');
    // the operator works after
    expect((await K.solve(b, 1e-2)).length).toBe(300);
  });

  it('a resolving one finishes before the next call', async () => {
    let running = 0;
    let overlapped = false;
    const slow = async (): Promise<void> => {
      if (running > 0) overlapped = true;
      running++;
      await new Promise((resolve) => setTimeout(resolve, 1));
      running--;
    };
    const r = await cg(K.shift(1e-2), b, { callback: slow, onProgress: slow });
    expect(r.info).toBe(0);
    await eigsh(K, 3, { onProgress: slow });
    expect(overlapped).toBe(false);
    expect(running).toBe(0);
  });
});
