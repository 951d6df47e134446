// --backend auto (the default) looks for a GPU adapter only where the input's kernel products could use one
// (GPU_AUTO_MIN_PAIRS pairs): a probe loads Dawn (0.1–0.2 s) and Dawn writes its own warnings to stderr, which small
// inputs used to pay on every command. 'auto' still takes a GPU only once one was found, so a large input probes first.
import { afterEach, describe, expect, it } from 'vitest';
import { GPU_AUTO_MIN_PAIRS, GpuUnavailableError, setBackend, setGpuAcquirerForTesting } from '../../src/gpu/device.js';
import { moonsCsv, run, scratch } from './helpers.js';

let acquisitions = 0;
const noAdapter = async () => {
  acquisitions++;
  throw new GpuUnavailableError('no WebGPU adapter found (a test acquirer)');
};
afterEach(async () => {
  setGpuAcquirerForTesting(undefined);
  await setBackend('cpu'); // no later test file in this worker inherits the CLI's 'auto'
});

describe("--backend auto probes for a GPU only for inputs large enough to use one", () => {
  it('cluster, interpolate, eigsh and solve on small inputs never look for an adapter; a large eigsh does, once', async () => {
    setGpuAcquirerForTesting(noAdapter);
    acquisitions = 0;
    const moons = moonsCsv(60);
    const train = moons.points.map(([a, b], i) => `${a},${b},${Math.sin(3 * a!) + i * 1e-3}`).join('\n');
    const s = scratch({ 'm.csv': moons.csv, 'train.csv': train, 'b.csv': moons.points.map(() => '1').join('\n') });
    try {
      expect((await run('cluster', s.path('m.csv'), '--clusters', '2', '--quiet')).code).toBe(0);
      expect((await run('interpolate', s.path('train.csv'), '--sigma', '0.3', '--alpha', '1e-3', '--quiet')).code).toBe(0);
      expect((await run('eigsh', s.path('m.csv'), '--sigma', '0.3', '--k', '2', '--quiet')).code).toBe(0);
      expect((await run('solve', s.path('m.csv'), '--rhs', s.path('b.csv'), '--sigma', '0.3', '--alpha', '0.1', '--quiet')).code).toBe(0);
      expect(acquisitions).toBe(0);
      const n = Math.ceil(Math.sqrt(GPU_AUTO_MIN_PAIRS)); // 1,024 points: n² pairs reach the GPU's threshold
      const big = moonsCsv(n).csv;
      const b = scratch({ 'big.csv': big });
      try {
        const r = await run('eigsh', b.path('big.csv'), '--sigma', '0.3', '--k', '1', '--quiet');
        expect(r.code).toBe(0);
        expect(r.err).toContain('lazylinalg: using the CPU backend: no WebGPU adapter found (a test acquirer)');
        expect(acquisitions).toBe(1);
      } finally {
        b.remove();
      }
    } finally {
      s.remove();
    }
  });
});
