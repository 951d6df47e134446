// Back-to-back solves on stored entries chain already-resolved promises: the event loop, through which the pool's
// workers' 'online' events arrive, gets no turn between them. A pool started meanwhile must still count as ready
// once its workers run (a shared counter they increment, read without the event loop), and take the next solve's
// work — not stay unready with every product on the calling thread.
import { afterAll, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { getPool, poolReady, poolStarted, setCpuThreads, shutdownCpuPool } from '../../src/cpu/pool.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { points, randomVector, relErr } from './helpers.js';

afterAll(() => shutdownCpuPool());

/** Blocks this thread for `ms` without giving the event loop a turn (as a long synchronous computation would). */
const blockThread = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe.runIf(availableParallelism() >= 2)('solve while the pool boots', () => {
  it('a pool whose workers booted during synchronous work is ready at once, and takes the next solve', async () => {
    await setCpuThreads(2);
    await shutdownCpuPool();
    const n = 300;
    const K = gaussianKernel(points(n, 3, 5), { sigma: 0.3 });
    const b = randomVector(n, 6);
    const first = (await K.solve(b, 1e-2)) as Float64Array; // programs compiled, K stored and factored: no waits left
    expect(poolStarted()).toBe(false);
    getPool(); // the workers boot on their own threads
    blockThread(2000); // long enough for them to run; their 'online' events wait for the event loop
    expect(poolReady()).toBe(true); // read off the workers' counter: no event-loop turn was needed
    const again = (await K.solve(b, 1e-2)) as Float64Array;
    expect(poolReady()).toBe(true);
    expect(relErr(again, first)).toBeLessThan(1e-12);
  });
});
