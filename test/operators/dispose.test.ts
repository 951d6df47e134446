/**
 * dispose(): an operator's stored K and cached preconditioners are released, their WebAssembly
 * memories recycled (src/cpu/memory-pool.ts) — and a store into a recycled memory, which still holds
 * the previous owner's entries, must give exactly what a fresh one gives (the conformance suite on it).
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { cauchyKernel, emptyMemoryCache, gaussianKernel, recycledMemoryBytes, type KernelOperator } from '../../src/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { acquireMemory, recycleMemory } from '../../src/cpu/memory-pool.js';
import { memoryBase, memoryPages } from '../../src/cpu/platform.js';
import { checkOperatorAgainstDense, relativeError } from '../conformance.js';
import { seededPoints, seededVector } from '../random-data.js';

afterAll(async () => {
  emptyMemoryCache();
  await shutdownCpuPool();
});
beforeEach(() => {
  emptyMemoryCache();
});

const stored = (K: KernelOperator) => K.isDenseCached;

describe('dispose() and recycled memories', () => {
  it('the pool hands back a kept memory of about the requested size, else a new one, and drops what exceeds its budget', () => {
    const a = acquireMemory(40);
    expect(memoryPages(a)).toBe(40);
    expect(a.buffer.byteLength).toBeGreaterThanOrEqual(memoryBase(a) + 40 * 65536); // from its huge-page boundary, if any
    recycleMemory(a);
    recycleMemory(a); // twice: kept once
    expect(recycledMemoryBytes()).toBe(40 * 65536);
    expect(acquireMemory(100)).not.toBe(a); // too small for 100 pages
    expect(acquireMemory(20)).not.toBe(a); // more than 1/8 (and 16 pages) too large for 20
    expect(acquireMemory(38)).toBe(a);
    expect(recycledMemoryBytes()).toBe(0);
    recycleMemory(a);
    expect(emptyMemoryCache()).toBe(40 * 65536);
    expect(recycledMemoryBytes()).toBe(0);
  });

  for (const dtype of ['float64', 'float32'] as const) {
    it(`${dtype}: a packed symmetric K stored into the memory another operator released matches its dense matrix`, async () => {
      const n = 400;
      const K1 = gaussianKernel(seededPoints(1, n, 3), { sigma: 0.2, dtype, denseCache: 'always' });
      await K1.matvec(seededVector(2, n));
      expect(stored(K1)).toBe(true);
      await K1.dispose();
      expect(stored(K1)).toBe(false);
      const kept = recycledMemoryBytes();
      expect(kept).toBeGreaterThan(n * n * (dtype === 'float64' ? 4 : 2)); // about half of n² entries, packed
      // other points and σ: every stored entry and every accumulator must be rewritten
      const K2 = gaussianKernel(seededPoints(3, n, 3, { lo: -1 }), { sigma: 0.35, dtype, denseCache: 'always' });
      await K2.matvec(seededVector(4, n));
      expect(stored(K2)).toBe(true);
      expect(recycledMemoryBytes()).toBe(0); // it took the released memory
      await checkOperatorAgainstDense(K2, await K2.toDense(), { tol: dtype === 'float64' ? 1e-13 : 2e-7 });
      // K1 stays usable: it stores K again when asked
      const b = seededVector(5, n);
      const want = await gaussianKernel(seededPoints(1, n, 3), { sigma: 0.2, dtype: 'float64', denseCache: 'never' }).matvec(b);
      expect(relativeError(await K1.matvec(b), want)).toBeLessThan(dtype === 'float64' ? 1e-13 : 1e-6);
      await K2.dispose();
      await K1.dispose();
    });
  }

  it('a rectangular (unpacked) K in a recycled memory, and its transpose', async () => {
    const X = seededPoints(6, 300, 2);
    const Y = seededPoints(7, 280, 2);
    const K1 = cauchyKernel(X, { y: Y, sigma: 0.5, denseCache: 'always' });
    await K1.matvec(seededVector(8, 280));
    await K1.dispose();
    expect(recycledMemoryBytes()).toBeGreaterThan(0);
    const K2 = cauchyKernel(seededPoints(9, 300, 2), { y: seededPoints(10, 280, 2), sigma: 0.3, denseCache: 'always' });
    await K2.matvec(seededVector(11, 280));
    expect(recycledMemoryBytes()).toBe(0);
    await checkOperatorAgainstDense(K2, await K2.toDense(), { tol: 1e-13 });
  });

  it('a dispose() while K is being stored: the product already queued finishes first, the next one stores K again', async () => {
    const n = 400;
    const X = seededPoints(20, n, 3);
    const K = gaussianKernel(X, { sigma: 0.2, denseCache: 'always' });
    const b = seededVector(21, n);
    const want = await gaussianKernel(X, { sigma: 0.2, denseCache: 'never' }).matvec(b);
    const inFlight = K.matvec(b);
    const disposing = K.dispose(); // waits for the store, then releases it once the queued product has run
    expect(relativeError(await inFlight, want)).toBeLessThan(1e-13);
    await disposing;
    expect(stored(K)).toBe(false); // the released store was not kept by the product that was in flight
    expect(relativeError(await K.matvec(b), want)).toBeLessThan(1e-13);
    expect(stored(K)).toBe(true);
    await K.dispose();
  });

  it('disposes the cached preconditioners: a kept reference throws when applied; the operator solves again', async () => {
    const n = 500;
    const K = gaussianKernel(seededPoints(12, n, 3), { sigma: 0.2 });
    const b = seededVector(13, n);
    const P = await K.preconditioner(0.1, 'landmarks', { rank: 60 });
    const x = await K.solve(b, 0.1, { rtol: 1e-10, preconditioner: 'landmarks', preconditionerOptions: { rank: 60 } });
    await K.dispose();
    await expect(P!.matvec(b)).rejects.toThrow(/released \(its operator was disposed\)/);
    const P2 = await K.preconditioner(0.1, 'landmarks', { rank: 60 });
    expect(P2).not.toBe(P); // built again
    const x2 = await K.solve(b, 0.1, { rtol: 1e-10, preconditioner: 'landmarks', preconditionerOptions: { rank: 60 } });
    expect(relativeError(x2, x)).toBeLessThan(1e-8);
    await K.dispose();
    await K.dispose(); // idempotent
  });
});
