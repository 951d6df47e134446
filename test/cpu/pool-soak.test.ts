/**
 * Repeated products on the worker pool must not grow the process's memory: each product used to take a fresh
 * shared WebAssembly memory, and a worker handed one keeps its backing store alive until that worker's garbage
 * collector runs — which an idle worker hardly ever does (≈ 6 MB per product here, 1.9 GB over this test).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { emptyMemoryCache, gaussianKernel } from '../../src/index.js';
import { getPool, poolReady, poolThreads, setCpuThreads, shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededPoints, seededVector } from '../random-data.js';

afterAll(async () => {
  emptyMemoryCache();
  await shutdownCpuPool();
});

const MiB = 2 ** 20;

describe('worker pool soak', () => {
  it('300 products at n = 200,000 on two threads keep RSS bounded and give the same result each time', async () => {
    const threads = poolThreads();
    if (threads < 2) await setCpuThreads(2); // the pool path is the one under test
    try {
      // a tall cross kernel: n·m = 1.6·10⁶ pairs go to the pool, each product is cheap, its memory is ≈ 6.4 MB
      const n = 200_000;
      const x = seededPoints(1, n, 3);
      const y = seededPoints(2, 8, 3);
      const K = gaussianKernel(x, { y, sigma: 0.5, denseCache: 'never' });
      const v = seededVector(3, 8);
      const first = await K.matvec(v);
      for (let i = 0; i < 5; i++) await K.matvec(v); // warm: programs compiled, memories kept for reuse
      const before = process.memoryUsage().rss;
      let last = first;
      for (let i = 0; i < 300; i++) last = await K.matvec(v);
      const growth = (process.memoryUsage().rss - before) / MiB;
      expect(last).toEqual(first);
      // 300 leaked memories would be ≈ 1,900 MiB; a handful of live ones and allocator noise stay well below 256
      expect(growth).toBeLessThan(256);
    } finally {
      if (threads < 2) await setCpuThreads(threads);
    }
  });

  it('stored K of operators dropped without dispose() does not stay resident in the workers', async () => {
    // a worker keeps each memory it was handed alive until its own isolate collects — which an idle worker's small
    // heap hardly ever does: here +9 MiB per dropped operator (each K 9 MiB, packed float64), ≈ 540 MiB over the test
    const collect = (globalThis as { gc?: () => void }).gc;
    expect(collect, 'vitest runs with --expose-gc (vitest.config.ts)').toBeTypeOf('function');
    const threads = poolThreads();
    if (threads < 2) await setCpuThreads(2);
    try {
      const x = seededPoints(4, 1500, 3);
      const v = seededVector(5, 1500);
      const dropOne = async () => {
        const K = gaussianKernel(x, { sigma: 0.3, denseCache: 'always' });
        for (let i = 0; i < 3; i++) await K.matvec(v);
      };
      getPool(); // the products go to the workers once they run
      for (let t = 0; !poolReady(); t++) {
        if (t > 600) throw new Error('the pool did not start in 30 s');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      for (let i = 0; i < 4; i++) await dropOne(); // warm: programs compiled
      const settle = async () => {
        collect!(); // this thread drops the operators (their memories' objects) ...
        await new Promise((resolve) => setTimeout(resolve, 10)); // ... and counts them (FinalizationRegistry)
      };
      await settle();
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 60; i++) {
        await dropOne();
        await settle();
      }
      const growth = (process.memoryUsage().rss - before) / MiB;
      expect(growth).toBeLessThan(200);
    } finally {
      if (threads < 2) await setCpuThreads(threads);
    }
  });
});
