/**
 * Repeated products on the worker pool must not grow the process's memory: each product used to take a fresh
 * shared WebAssembly memory, and a worker handed one keeps its backing store alive until that worker's garbage
 * collector runs — which an idle worker hardly ever does (≈ 6 MB per product here, 1.9 GB over this test).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { emptyMemoryCache, gaussianKernel } from '../../src/index.js';
import { poolThreads, setCpuThreads, shutdownCpuPool } from '../../src/cpu/pool.js';
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
});
