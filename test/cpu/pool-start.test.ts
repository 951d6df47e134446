// A fresh process's small products do not wait for the worker threads to boot (issue 16 item 19): they run on
// the calling thread, the pool starting meanwhile, and move to the pool once its workers have answered.
import { afterAll, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { poolReady, poolStarted, setCpuThreads, shutdownCpuPool } from '../../src/cpu/pool.js';
import { MAX_PAIRS_WHILE_POOL_STARTS, rowTasks } from '../../src/cpu/reduce.js';
import { gaussianKernel } from '../../src/index.js';
import { seededPoints } from '../random-data.js';

afterAll(() => shutdownCpuPool());

describe.runIf(availableParallelism() >= 2)('products while the pool starts', () => {
  it('a small product runs on the calling thread and starts the pool; once ready the pool takes it', async () => {
    await setCpuThreads(2);
    await shutdownCpuPool();
    const n = 1797; // n² ≤ MAX_PAIRS_WHILE_POOL_STARTS
    expect(n * n).toBeLessThanOrEqual(MAX_PAIRS_WHILE_POOL_STARTS);
    expect(rowTasks(n, n)).toBe(1);
    expect(poolStarted()).toBe(true);
    // a large product waits for the pool rather than run on one thread
    expect(rowTasks(4000, 4000)).toBe(2);
    // an explicit request is obeyed either way
    expect(rowTasks(n, n, true)).toBe(2);
    for (let k = 0; k < 600 && !poolReady(); k++) await new Promise((r) => setTimeout(r, 50));
    expect(poolReady()).toBe(true);
    expect(rowTasks(n, n)).toBe(2);
  });

  it('the first products of a fresh pool equal the pooled ones (calling thread, then pool)', async () => {
    await shutdownCpuPool();
    const x = seededPoints(5, 1100, 8);
    const b = Float64Array.from({ length: 1100 }, (_, i) => Math.sin(i));
    const K = gaussianKernel(x, { sigma: 0.7, denseCache: 'never' });
    const cold = await K.matvec(b);
    for (let k = 0; k < 600 && !poolReady(); k++) await new Promise((r) => setTimeout(r, 50));
    const warm = await K.matvec(b);
    for (let i = 0; i < 1100; i++) expect(Math.abs(cold[i]! - warm[i]!)).toBeLessThanOrEqual(1e-12 * Math.abs(warm[i]!) + 1e-300);
  });
});
