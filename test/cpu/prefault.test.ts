import { afterEach, describe, expect, it } from 'vitest';
import { DenseKernelMatrix } from '../../src/cpu/dense-product.js';
import { acquireMemory, emptyMemoryCache, PREFAULT_MIN_BYTES, prefaultMemory, recycleMemory, takePrefaulted } from '../../src/cpu/memory-pool.js';
import { cpuPlatform } from '../../src/cpu/platform.js';
import { poolThreads, setCpuThreads, shutdownCpuPool } from '../../src/cpu/pool.js';
import { collectVariables, evaluateDenseJs, Vi, Vj } from '../../src/formula/index.js';
import { seededPoints } from '../random-data.js';

// the host writes a fresh memory's pages on another thread: meaningless (and not done) on one core
const twoCores = cpuPlatform().cores() >= 2;
const threads = poolThreads();

afterEach(async () => {
  delete process.env['LAZYLINALG_PREFAULT'];
  emptyMemoryCache();
  await setCpuThreads(threads);
});

describe('prefaulted memories (fresh pages provided on another thread for a store on the calling thread)', () => {
  it.runIf(twoCores)('the host writes every page of a prepared memory, which one taker gets once', async () => {
    emptyMemoryCache();
    const pages = PREFAULT_MIN_BYTES / 65536 + 3;
    expect(prefaultMemory(pages)).toBe(true);
    expect(prefaultMemory(pages)).toBe(false); // one is being prepared for that size already
    const taken = takePrefaulted(pages)!;
    expect(taken.memory.buffer.byteLength).toBe(pages * 65536);
    expect(takePrefaulted(pages)).toBeUndefined();
    await taken.ready;
    // random bytes on every page: a 4 KiB page of zeros from a random fill has probability 2^-32768
    const bytes = new Uint8Array(taken.memory.buffer);
    for (let p = 0; p < bytes.length; p += 4096) {
      if (!bytes.subarray(p, p + 4096).some((b) => b !== 0)) expect.fail(`page ${p / 4096} was not written`);
    }
  });

  it('nothing is prepared below PREFAULT_MIN_BYTES, where a recycled memory serves, or with LAZYLINALG_PREFAULT=0', async () => {
    emptyMemoryCache();
    expect(prefaultMemory(PREFAULT_MIN_BYTES / 65536 - 1)).toBe(false);
    const pages = PREFAULT_MIN_BYTES / 65536 + 1;
    recycleMemory(acquireMemory(pages));
    expect(prefaultMemory(pages)).toBe(false); // the recycled one serves: its pages are touched already
    emptyMemoryCache();
    process.env['LAZYLINALG_PREFAULT'] = '0';
    expect(prefaultMemory(PREFAULT_MIN_BYTES / 65536 + 1)).toBe(false);
    expect(takePrefaulted(PREFAULT_MIN_BYTES / 65536 + 1)).toBeUndefined();
  });

  /** A symmetric Gaussian K at n = 1,100 (packed float64 ≈ 4.9 MB: above PREFAULT_MIN_BYTES), its store and the host's prefaults. */
  async function storeWatchingPrefaults() {
    const platform = cpuPlatform();
    const prefault = platform.prefault!;
    const filled: Uint8Array[] = [];
    platform.prefault = (bytes) => {
      filled.push(bytes);
      return prefault(bytes);
    };
    try {
      const n = 1100;
      const P = seededPoints(31, n, 3, { lo: -1 });
      const f = Vi(P).sub(Vj(P)).sqnorm2().div(2).neg().exp();
      const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, n, 'float64', { symmetric: true });
      return { n, f, K, filled };
    } finally {
      platform.prefault = prefault;
    }
  }

  it.runIf(twoCores)('a packed store on the calling thread takes the prepared memory (random bytes where K goes) and equals the JS twin', async () => {
    await shutdownCpuPool(); // no pool and no calling-thread work counted yet: a store of 1.2·10⁶ pairs runs on this thread
    emptyMemoryCache();
    const { n, f, K, filled } = await storeWatchingPrefaults();
    // K was stored in the memory the host prefaulted, not in another one
    expect(filled.length).toBe(1);
    expect(filled[0]!.buffer).toBe((K as unknown as { stored: { memory: WebAssembly.Memory } }).stored.memory.buffer);
    expect(K.packed).toBe(true);
    const want = evaluateDenseJs(f.node);
    const all = Array.from({ length: n }, (_, i) => i);
    const got = K.entries(all, all);
    let worst = 0;
    for (let t = 0; t < n * n; t++) worst = Math.max(worst, Math.abs(got[t]! - want[t]!));
    expect(worst).toBeLessThanOrEqual(1e-14);
    await K.release();
  });

  it('no prefault when the user asked for one thread (LAZYLINALG_THREADS=1, setCpuThreads(1))', async () => {
    await setCpuThreads(1);
    emptyMemoryCache();
    const { K, filled } = await storeWatchingPrefaults();
    expect(filled.length).toBe(0);
    await K.release();
  });
});
