import { afterEach, describe, expect, it } from 'vitest';
import { DenseKernelMatrix } from '../../src/cpu/dense-product.js';
import { CholeskySolver } from '../../src/cpu/dense-cholesky.js';
import {
  acquireMemory, awaitPrefaulted, emptyMemoryCache, PREFAULT_MIN_BYTES, prefaultMemory, recycledMemoryBytes, recycleMemory, takePrefaulted,
} from '../../src/cpu/memory-pool.js';
import { cpuPlatform, memoryBase, memoryPages } from '../../src/cpu/platform.js';
import { poolThreads, setCpuThreads, shutdownCpuPool } from '../../src/cpu/pool.js';
import { collectVariables, evaluateDenseJs, Vi, Vj } from '../../src/formula/index.js';
import { laplacianKernel } from '../../src/index.js';
import { mulberry32 } from '../../src/krylov/random.js';
import { choleskySolveInPlace, choleskyUpper } from '../../src/preconditioners/dense.js';
import { factorShifted } from '../../src/preconditioners/dense-factor.js';
import { seededPoints } from '../random-data.js';

// the host writes a fresh memory's pages on another thread: meaningless (and not done) on one core
const twoCores = cpuPlatform().cores() >= 2;
const threads = poolThreads();

afterEach(async () => {
  delete process.env['LAZYLINALG_PREFAULT'];
  delete process.env['LAZYLINALG_HUGEPAGES'];
  emptyMemoryCache();
  await setCpuThreads(threads);
});

/** Runs `body` with the host's prefault hook recording the memories it fills (the real hook still fills them). */
async function watchingPrefaults<T>(body: (filled: Uint8Array[]) => Promise<T>): Promise<T> {
  const platform = cpuPlatform();
  const prefault = platform.prefault!;
  const filled: Uint8Array[] = [];
  platform.prefault = (bytes) => {
    filled.push(bytes);
    return prefault(bytes);
  };
  try {
    return await body(filled);
  } finally {
    platform.prefault = prefault;
  }
}

describe('prefaulted memories (fresh pages provided on another thread for a store on the calling thread)', () => {
  it.runIf(twoCores)('the host writes every page of a prepared memory, which one taker gets once', async () => {
    emptyMemoryCache();
    process.env['LAZYLINALG_HUGEPAGES'] = '0';
    const pages = PREFAULT_MIN_BYTES / 65536 + 3;
    expect(prefaultMemory(pages)).toBe(true);
    expect(prefaultMemory(pages)).toBe(false); // one is being prepared for that size already
    const taken = takePrefaulted(pages)!;
    expect(memoryPages(taken.memory)).toBe(pages);
    expect(takePrefaulted(pages)).toBeUndefined();
    await taken.ready;
    // every page a layout uses present: touching them all takes (almost) no page fault, where a fresh memory of that
    // size takes one a 4 KiB page (huge pages off for this test: one a 2 MiB page would leave too few to compare)
    const faultsTouching = (memory: WebAssembly.Memory) => {
      const bytes = new Uint8Array(memory.buffer, memoryBase(memory), memoryPages(memory) * 65536);
      const before = process.resourceUsage().minorPageFault;
      for (let p = 0; p < bytes.length; p += 4096) bytes[p] = 1;
      return process.resourceUsage().minorPageFault - before;
    };
    const prefaulted = faultsTouching(taken.memory);
    const fresh = faultsTouching(acquireMemory(pages));
    expect(fresh).toBeGreaterThanOrEqual(40);
    expect(prefaulted).toBeLessThanOrEqual(8);
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
  function storeWatchingPrefaults() {
    return watchingPrefaults(async (filled) => {
      const n = 1100;
      const P = seededPoints(31, n, 3, { lo: -1 });
      const f = Vi(P).sub(Vj(P)).sqnorm2().div(2).neg().exp();
      const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, n, 'float64', { symmetric: true });
      return { n, f, K, filled };
    });
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
    emptyMemoryCache();
    expect(CholeskySolver.prefault(1500)).toBe(false); // nor for a factor
  });

  it.runIf(twoCores)('a memory prepared for a factor is not taken by a store, nor one prepared for a store by a factor', async () => {
    emptyMemoryCache();
    const pages = PREFAULT_MIN_BYTES / 65536 + 5;
    expect(prefaultMemory(pages, 'factor')).toBe(true);
    expect(takePrefaulted(pages)).toBeUndefined(); // a store's taker ('store' by default)
    expect(prefaultMemory(pages, 'store')).toBe(true); // the one of that size is for a factor
    const store = takePrefaulted(pages, 'store')!;
    const factor = takePrefaulted(pages, 'factor')!;
    expect(store.memory).not.toBe(factor.memory);
    await Promise.all([store.ready, factor.ready]);
  });

  it.runIf(twoCores)('prefaults run one after another, in the order asked for', async () => {
    emptyMemoryCache();
    const platform = cpuPlatform();
    const prefault = platform.prefault!;
    const started: { bytes: Uint8Array; done: () => void }[] = [];
    platform.prefault = (bytes) => new Promise<void>((resolve) => started.push({ bytes, done: resolve }));
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    try {
      const pages = PREFAULT_MIN_BYTES / 65536;
      expect(prefaultMemory(pages + 1, 'store')).toBe(true);
      expect(prefaultMemory(pages + 40, 'factor')).toBe(true);
      // the first at once (before this thread's synchronous work goes on), the second once the first has ended
      expect(started.length).toBe(1);
      await turn();
      expect(started.map((s) => s.bytes.length)).toEqual([(pages + 1) * 65536]);
      started[0]!.done();
      await turn();
      expect(started.map((s) => s.bytes.length)).toEqual([(pages + 1) * 65536, (pages + 40) * 65536]);
      started[1]!.done();
      await turn();
      // neither was taken: both went to the recycled memories once written
      expect(recycledMemoryBytes()).toBe((2 * pages + 41) * 65536);
    } finally {
      platform.prefault = prefault;
    }
  });

  it.runIf(twoCores)('the taker waits for the host, touching the pages it has not reached from the end down meanwhile, and stops when the host ends', async () => {
    emptyMemoryCache();
    const platform = cpuPlatform();
    const prefault = platform.prefault!;
    let finish!: () => void;
    platform.prefault = () => new Promise<void>((resolve) => (finish = resolve)); // a host that writes nothing till told
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    try {
      const pages = PREFAULT_MIN_BYTES / 65536 + 2;
      expect(prefaultMemory(pages)).toBe(true);
      const taken = takePrefaulted(pages)!;
      // the pages a layout uses: from the memory's huge-page boundary, where it has one
      const bytes = new Uint8Array(taken.memory.buffer, memoryBase(taken.memory), memoryPages(taken.memory) * 65536);
      bytes.fill(7); // marks: a touched page's first byte becomes 0
      let waited = false;
      const waiting = awaitPrefaulted(taken).then(() => { waited = true; });
      for (let t = 0; t < 3; t++) await turn();
      expect(waited).toBe(false); // not before the host ends
      const touched = (p: number) => bytes[p * 4096] === 0;
      const last = bytes.length / 4096 - 1;
      expect(touched(last)).toBe(true); // from the end down
      expect(touched(0)).toBe(false);
      const reached = Array.from({ length: last + 1 }, (_, p) => p).filter(touched);
      expect(reached).toEqual(Array.from({ length: reached.length }, (_, q) => last - reached.length + 1 + q)); // one run from the end
      expect(bytes[last * 4096 + 1]).toBe(7); // one byte a page
      finish();
      await waiting;
      expect(waited).toBe(true);
      // nothing is touched once it has returned: data written now stays
      const count = reached.length;
      bytes.fill(9);
      for (let t = 0; t < 3; t++) await turn();
      expect(bytes.every((b) => b === 9)).toBe(true);
      expect(count).toBeGreaterThan(0);
    } finally {
      platform.prefault = prefault;
    }
  });

  it.runIf(twoCores)('CholeskySolver.factor takes the memory CholeskySolver.prefault prepared (random bytes there) and solves as the JS factor', async () => {
    await shutdownCpuPool();
    emptyMemoryCache();
    const k = 1000; // float64, packed rows: ≈ 4.8 MB of R and the packed panel
    const rng = mulberry32(5);
    // symmetric, off-diagonal entries in [−1, 1), diagonal k: positive definite by Gershgorin
    const M = new Float64Array(k * k);
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) M[i * k + j] = M[j * k + i] = 2 * rng() - 1;
      M[i * k + i] = k;
    }
    await watchingPrefaults(async (filled) => {
      // below PREFAULT_MIN_BYTES nothing is prepared; k = 1000 in float64 is above it
      expect(CholeskySolver.prefault(k)).toBe(true);
      expect(CholeskySolver.prefault(k)).toBe(false); // one is being prepared for that order already
      const solver = await CholeskySolver.factor(k, (i, row) => row.set(M.subarray(i * k + i, i * k + k)), 'float64', undefined, 1);
      if (!(solver instanceof CholeskySolver)) throw new Error('factor failed');
      expect(filled.length).toBe(1);
      expect((solver as unknown as { memory: WebAssembly.Memory }).memory.buffer).toBe(filled[0]!.buffer);
      const b = Float64Array.from({ length: k }, (_, i) => Math.sin(i));
      const want = choleskySolveInPlace(choleskyUpper(M, k)!, k, Float64Array.from(b), 1);
      const got = solver.solveInPlace(Float64Array.from(b), 1);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0) / scale).toBeLessThan(1e-13);
      solver.release();
    });
  });

  it.runIf(twoCores)("factorShifted of a kernel: K's store takes its prepared memory first, the factor the one prepared after it", async () => {
    await shutdownCpuPool(); // a store of 1.2·10⁶ pairs on this thread: its memory is prefaulted
    emptyMemoryCache();
    await watchingPrefaults(async (filled) => {
      const n = 1100;
      const P = seededPoints(41, n, 3);
      const K = laplacianKernel(P, { sigma: 0.3, backend: 'cpu' });
      const F = await factorShifted(K, 0.1, { allowProducts: false });
      if (!F || 'singular' in F) throw new Error('no factor');
      expect(F.kind).toBe('cholesky');
      expect(filled.length).toBe(2);
      // both prepared memories were taken (none recycled), K's asked for first
      expect(recycledMemoryBytes()).toBe(0);
      const stored = (K as unknown as { dense: { stored: { memory: WebAssembly.Memory } } }).dense.stored.memory;
      expect(stored.buffer).toBe(filled[0]!.buffer);
      F.release();
      expect(recycledMemoryBytes()).toBe(filled[1]!.byteLength);
      // the solve against the dense K + 0.1·I, evaluated in JS
      const Kd = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) Kd[i * n + j] = Math.exp(-Math.hypot(...P[i]!.map((v, c) => v - P[j]![c]!)) / 0.3);
      for (let i = 0; i < n; i++) Kd[i * n + i]! += 0.1;
      const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
      const want = choleskySolveInPlace(choleskyUpper(Kd, n)!, n, Float64Array.from(b), 1);
      const G = await factorShifted(K, 0.1, { allowProducts: false });
      if (!G || 'singular' in G) throw new Error('no factor');
      const got = G.solve(b);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0) / scale).toBeLessThan(1e-12);
      G.release();
      await K.dispose();
    });
  });
});
