// A fresh process's small products do not wait for the worker threads to boot (issue 16 item 19): they run on
// the calling thread; the pool starts once that work adds up to its start cost (ski rental), or at once for a
// product that alone pays for it, and products move to the pool once its workers have answered.
import { afterAll, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import {
  MIN_COUNTED_SOLO_MS, POOL_START_COST_MS, poolReady, poolStarted, recordSoloWork, setCpuThreads, shutdownCpuPool, soloWorkMs, startCpuPool,
} from '../../src/cpu/pool.js';
import { MAX_PAIRS_WHILE_POOL_STARTS, MIN_PAIRS_FOR_POOL, rowTasks } from '../../src/cpu/reduce.js';
import { gaussianKernel } from '../../src/index.js';
import { seededPoints } from '../random-data.js';

afterAll(() => shutdownCpuPool());

describe.runIf(availableParallelism() >= 2)('products while the pool starts', () => {
  it('a small product runs on the calling thread; the pool starts once such work adds up; once ready it takes them', async () => {
    await setCpuThreads(2);
    await shutdownCpuPool();
    expect(soloWorkMs()).toBe(0);
    const n = 1797; // n² ≤ MAX_PAIRS_WHILE_POOL_STARTS
    expect(n * n).toBeLessThanOrEqual(MAX_PAIRS_WHILE_POOL_STARTS);
    expect(rowTasks(n, n)).toBe(1);
    expect(poolStarted()).toBe(false);
    // runs too short to gain from the pool are not counted
    recordSoloWork(MIN_COUNTED_SOLO_MS / 2);
    expect(soloWorkMs()).toBe(0);
    recordSoloWork(POOL_START_COST_MS / 2);
    expect(rowTasks(n, n)).toBe(1);
    expect(poolStarted()).toBe(false);
    recordSoloWork(POOL_START_COST_MS / 2);
    expect(rowTasks(n, n)).toBe(1); // the pool starts in the background; this product does not wait for it
    expect(poolStarted()).toBe(true);
    // a large product waits for the pool rather than run on one thread
    expect(rowTasks(4000, 4000)).toBe(2);
    // an explicit request is obeyed either way
    expect(rowTasks(n, n, true)).toBe(2);
    for (let k = 0; k < 600 && !poolReady(); k++) await new Promise((r) => setTimeout(r, 50));
    expect(poolReady()).toBe(true);
    expect(rowTasks(n, n)).toBe(2);
  });

  it('a large product starts the pool at once', async () => {
    await shutdownCpuPool();
    expect(rowTasks(4000, 4000)).toBe(2);
    expect(poolStarted()).toBe(true);
  });

  it('a small eigsh in a fresh pool never starts the workers (its work is below their start cost)', async () => {
    await shutdownCpuPool();
    const K = gaussianKernel(seededPoints(7, 600, 5), { sigma: 0.8 });
    expect(600 * 600).toBeGreaterThanOrEqual(MIN_PAIRS_FOR_POOL);
    const r = await K.eigsh(3);
    expect(r.eigenvalues.length).toBe(3);
    expect(soloWorkMs()).toBeLessThan(POOL_START_COST_MS);
    expect(poolStarted()).toBe(false);
  });

  it('the first products of a fresh pool equal the pooled ones (calling thread, then pool)', async () => {
    await shutdownCpuPool();
    const x = seededPoints(5, 1100, 8);
    const b = Float64Array.from({ length: 1100 }, (_, i) => Math.sin(i));
    const K = gaussianKernel(x, { sigma: 0.7, denseCache: 'never' });
    const cold = await K.matvec(b);
    recordSoloWork(POOL_START_COST_MS);
    expect(rowTasks(1100, 1100)).toBe(1); // starts the pool
    for (let k = 0; k < 600 && !poolReady(); k++) await new Promise((r) => setTimeout(r, 50));
    const warm = await K.matvec(b);
    for (let i = 0; i < 1100; i++) expect(Math.abs(cold[i]! - warm[i]!)).toBeLessThanOrEqual(1e-12 * Math.abs(warm[i]!) + 1e-300);
  });

  it('startCpuPool rejects when the pool it waits for is stopped first (it polled forever, keeping the process alive)', async () => {
    await shutdownCpuPool();
    // its rejection is taken at once: it comes while shutdownCpuPool is awaited
    const starting = startCpuPool().then(() => undefined, (error: unknown) => error);
    await shutdownCpuPool(); // before its workers run (they take tens of ms to boot)
    expect(await starting).toBeInstanceOf(Error);
    expect(((await starting) as Error).message).toMatch(/stopped .* before its workers ran/);
  });
});
