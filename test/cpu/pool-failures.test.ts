/**
 * A product whose worker dies, or that a shutdownCpuPool() interrupts, fails with an error that says so — and
 * leaves its operator usable: a failed dense-cache store is not kept, the next product stores K again.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { emptyMemoryCache, gaussianKernel } from '../../src/index.js';
import { getPool, poolThreads, setCpuThreads, shutdownCpuPool, startCpuPool } from '../../src/cpu/pool.js';
import { choleskyUpperWasm } from '../../src/cpu/dense-cholesky.js';
import { luFactorWasm } from '../../src/cpu/dense-lu-wasm.js';
import { seededPoints, seededVector } from '../random-data.js';

afterAll(async () => {
  emptyMemoryCache();
  await shutdownCpuPool();
});

/** Resolves once the pool has tasks waiting (a parallel store splits into several ranges a thread). */
async function poolBusy(): Promise<void> {
  for (let waited = 0; waited < 60_000; waited += 2) {
    if (getPool().queueSize > 0) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error('the pool never got busy');
}

const relative = (a: Float64Array, b: Float64Array) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += b[i]! ** 2; }
  return Math.sqrt(num / den);
};

const interruptions = [
  ['a worker is killed', /worker thread died/, async () => { await getPool().threads[0]!.terminate(); }],
  ['shutdownCpuPool() runs', /shutdownCpuPool\(\) ran/, () => shutdownCpuPool()],
] as const;

describe('a product interrupted during the first dense-cache store (n = 12,000)', () => {
  const n = 12_000;
  const x = seededPoints(4, n, 3);
  const v = seededVector(5, n);
  let reference: Float64Array | undefined;
  const symbolic = async () => (reference ??= await gaussianKernel(x, { sigma: 0.2, denseCache: 'never' }).matvec(v));

  for (const [what, message, interrupt] of interruptions) {
    it(`${what}: the product rejects saying so, the next one stores K again and is right`, async () => {
      const threads = poolThreads();
      if (threads < 2) await setCpuThreads(2);
      try {
        const K = gaussianKernel(x, { sigma: 0.2, denseCache: 'always' });
        const first = K.matvec(v).then(() => undefined, (error: unknown) => error);
        await poolBusy();
        await interrupt();
        expect(await first).toBeInstanceOf(Error);
        expect((await first as Error).message).toMatch(message);
        expect(K.isDenseCached).toBe(false);
        const again = await K.matvec(v);
        expect(K.isDenseCached).toBe(true);
        expect(relative(again, await symbolic())).toBeLessThan(1e-12);
        await K.dispose();
      } finally {
        if (threads < 2) await setCpuThreads(threads);
      }
    });
  }

  it("K.solve with 'auto': a worker killed during its first products, the next solve succeeds", async () => {
    const threads = poolThreads();
    if (threads < 2) await setCpuThreads(2);
    try {
      const K = gaussianKernel(x, { sigma: 0.2 });
      const alpha = 1;
      const first = K.solve(v, alpha).then(() => undefined, (error: unknown) => error);
      await poolBusy();
      await getPool().threads[0]!.terminate();
      expect(await first).toBeInstanceOf(Error);
      expect((await first as Error).message).toMatch(/worker thread died/);
      const solution = await K.solve(v, alpha);
      // (K + αI)·x against v, K by the symbolic product
      const Kx = await gaussianKernel(x, { sigma: 0.2, denseCache: 'never' }).matvec(solution);
      const lhs = Kx.map((kx, i) => kx + alpha * solution[i]!);
      expect(relative(lhs, v)).toBeLessThan(1e-4);
      await K.dispose();
    } finally {
      if (threads < 2) await setCpuThreads(threads);
    }
  });
});

describe('setCpuThreads while products run', () => {
  it('the running product finishes on the old pool and is right; later ones run on the new size (it was interrupted, blamed on a shutdownCpuPool() never called)', async () => {
    const n = 12_000;
    const x = seededPoints(6, n, 3);
    const v = seededVector(7, n);
    const threads = poolThreads();
    if (threads < 2) await setCpuThreads(2);
    try {
      const reference = await gaussianKernel(x, { sigma: 0.2, denseCache: 'never' }).matvec(v);
      const K = gaussianKernel(x, { sigma: 0.2, denseCache: 'always' });
      const first = K.matvec(v);
      await poolBusy();
      await setCpuThreads(1);
      expect(relative(await first, reference)).toBeLessThan(1e-12);
      expect(poolThreads()).toBe(1);
      expect(relative(await K.matvec(v), reference)).toBeLessThan(1e-12);
      await K.dispose();
    } finally {
      await setCpuThreads(Math.max(threads, 1));
    }
  });
});


describe('a factorisation interrupted on the pool', () => {
  // n = 1,500: the trailing updates of both factorisations are split over the pool once its workers run
  const n = 1500;
  const M = seededVector(11, n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) M[i * n + j] = M[j * n + i]!; // symmetric
  for (let i = 0; i < n; i++) M[i * n + i]! += n; // and diagonally dominant: positive definite
  const factorisations = [
    ['Cholesky', async () => Array.from((await choleskyUpperWasm(M, n))!.subarray(0, 2 * n))],
    ['LU', async () => {
      const r = await luFactorWasm(n, (lu) => lu.set(M));
      if (!('factors' in r)) throw new Error('singular');
      const head = Array.from(r.factors.lu.subarray(0, 2 * n));
      r.factors.release();
      return head;
    }],
  ] as const;
  for (const [name, factor] of factorisations) {
    it(`${name}: a shutdownCpuPool() meanwhile rejects saying so (not a "product"), and the next call is right`, async () => {
      const threads = poolThreads();
      if (threads < 2) await setCpuThreads(2);
      try {
        await startCpuPool();
        const pool = getPool() as unknown as { completed: number }; // Node's pool is piscina's: it counts completed tasks
        const done = pool.completed;
        const first = factor().then(() => undefined, (error: unknown) => error);
        // once its first pooled trailing update is done: a dozen more follow at n = 1,500
        for (let waited = 0; pool.completed === done && waited < 60_000; waited += 1) await new Promise((r) => setTimeout(r, 1));
        await shutdownCpuPool();
        const error = await first;
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(/factorisation .*shutdownCpuPool\(\) ran/);
        await startCpuPool();
        const again = await factor();
        await setCpuThreads(1); // the same factor on the calling thread alone: the pool's split changes no bit
        expect(await factor()).toEqual(again);
      } finally {
        await setCpuThreads(Math.max(threads, 2));
      }
    });
  }
});
