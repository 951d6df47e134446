/**
 * Recycled WebAssembly memories for stored kernel matrices (the dense cache, a landmark
 * preconditioner's K_mn), like a caching allocator: `dispose()` of an operator hands its stores'
 * memories back here, and the next store of about the same size takes one instead of a fresh memory.
 *
 * Why: a fresh memory's pages are provided by the OS on first touch, and on virtualised hosts that is
 * the dominant and most variable part of storing K — measured on the 2-vCPU VM (Firecracker): touching a
 * fresh 512 MiB took 120 ms to 2.0 s from run to run, where writing pages already touched took 37 ms.
 * A JavaScript program cannot release a WebAssembly.Memory (only the garbage collector can), so
 * without recycling every new operator pays the first touch again.
 *
 * A recycled memory holds the previous owner's data: the stores overwrite every stored entry and
 * every product (re)initialises its accumulators, so nothing may rely on zeroed memory; the
 * conformance tests store into recycled memories to check it.
 */
import { cpuPlatform, memoryBase, memoryPages, newWasmMemory, switchSetting } from './platform.js';
import { poolThreads } from './pool.js';

/** The default budget of 'auto' dense caches, and the most memory kept here: totalmem/8, at most 2 GiB. */
export function defaultDenseCacheBytes(): number {
  return Math.min(2 ** 31, Math.floor(cpuPlatform().totalMemory() / 8));
}

/** A recycled memory serves a request of `pages` if it has at most this much more (1/8, at least 1 MiB). */
const SLACK = 1 / 8;
const MIN_SLACK_PAGES = 16;

const free: WebAssembly.Memory[] = [];

/**
 * What a prefaulted memory is for: a kernel store ('store', `DenseKernelMatrix.materialise`) or a Cholesky factor
 * ('factor', src/cpu/dense-cholesky.ts). A taker gets only a memory prepared for its purpose: a factor's memory,
 * prepared while K is stored, is about K's size and would otherwise serve K's store.
 */
export type PrefaultPurpose = 'store' | 'factor';

/** Fresh memories whose pages the host is writing (`prefaultMemory`), until `takePrefaulted` hands one out. */
const prefaulting = new Map<WebAssembly.Memory, { purpose: PrefaultPurpose; ready: Promise<unknown> }>();

/** The end of the last prefault asked for, while one runs: each starts when the one before ends (see `prefaultMemory`). */
let lastPrefault: Promise<unknown> | undefined;

/**
 * Bytes from which `prefaultMemory` prepares a memory: below, the page faults cost about what handing the work to
 * another thread does — and where Node's native helper is not built, the loading of node:crypto for it (≈ 6 ms on the
 * loaded VM).
 */
export const PREFAULT_MIN_BYTES = 4 * 2 ** 20;

/** LAZYLINALG_PREFAULT: unset, blank or 1 allows prefaults, 0 turns them off; anything else is an error naming it. */
export const prefaultAllowed = (raw: string | undefined): boolean => switchSetting('LAZYLINALG_PREFAULT', raw);

/**
 * Makes a fresh memory of `pages` pages whose pages the host provides on another thread (`CpuPlatform.prefault`),
 * for work about to run on the calling thread to take (`takePrefaulted` with the same `purpose`) — while this thread
 * assembles and compiles its programs or stores K, where that work would take the page faults itself (≈ 12 µs a page
 * on the 2-vCPU VM, Firecracker: 41 ms for the 14 MiB of the digits' packed K at n = 1,797). Prefaults run one after
 * another, in the order asked for (a second host thread would take the calling thread's core). Nothing is done
 * where a recycled memory serves `pages`, below PREFAULT_MIN_BYTES, where products run on one thread (one core,
 * or the user asked for one: LAZYLINALG_THREADS=1, setCpuThreads(1)), on a host without the hook or with
 * LAZYLINALG_PREFAULT=0. A memory nobody takes goes to the recycled ones once written. Returns whether a memory is
 * being prepared.
 */
export function prefaultMemory(pages: number, purpose: PrefaultPurpose = 'store'): boolean {
  const platform = cpuPlatform();
  const prefault = platform.prefault;
  if (!prefault || !prefaultAllowed(platform.env('LAZYLINALG_PREFAULT')) || poolThreads() < 2) return false;
  if (pages * 65536 < PREFAULT_MIN_BYTES || bestFit(free, pages) >= 0 || bestFit(preparedFor(purpose), pages) >= 0) return false;
  const memory = newWasmMemory(pages);
  const bytes = layoutBytes(memory);
  const start = (): Promise<unknown> => {
    try {
      return prefault(bytes);
    } catch (error) {
      return Promise.reject(error);
    }
  };
  // at once where none runs: a microtask later would be after this thread's synchronous work (assembling programs);
  // a failed prefault only leaves the pages to the taker's own first touches
  const ready = (lastPrefault ? lastPrefault.then(start) : start()).catch(() => undefined);
  lastPrefault = ready;
  prefaulting.set(memory, { purpose, ready });
  void ready.then(() => {
    if (lastPrefault === ready) lastPrefault = undefined;
    if (prefaulting.delete(memory)) recycleMemory(memory);
  });
  return true;
}

/** The memories being prepared for `purpose`. */
const preparedFor = (purpose: PrefaultPurpose): WebAssembly.Memory[] =>
  [...prefaulting].filter(([, p]) => p.purpose === purpose).map(([memory]) => memory);

/**
 * A memory `prefaultMemory` prepared for `purpose` that serves `pages`, and when the host's writes to it end (the
 * taker awaits it before writing).
 */
export function takePrefaulted(pages: number, purpose: PrefaultPurpose = 'store'): { memory: WebAssembly.Memory; ready: Promise<unknown> } | undefined {
  const memories = preparedFor(purpose);
  const best = bestFit(memories, pages);
  if (best < 0) return undefined;
  const memory = memories[best]!;
  const { ready } = prefaulting.get(memory)!;
  prefaulting.delete(memory);
  return { memory, ready };
}

/** Bytes between two first touches `awaitPrefaulted` makes: x86's page (a larger page is touched several times). */
const TOUCH_STRIDE = 4096;

/** Pages `awaitPrefaulted` touches between two looks at whether the host's writes have ended (≈ 0.2–0.5 ms here). */
const TOUCH_CHUNK_PAGES = 16;

/** A turn of the host's event loop: Node's setImmediate (after pending I/O callbacks, no 1 ms floor), else a timer. */
const nextTurn = (): Promise<void> => new Promise((resolve) => {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  if (immediate) immediate(resolve);
  else setTimeout(resolve, 0);
});

/**
 * Waits for the host's writes to a memory `takePrefaulted` handed out, and meanwhile takes first touches of its pages
 * on this thread, from the end down, a chunk at a time between turns of the event loop: the host writes from the
 * start up, so the two meet in the middle instead of this thread idling till the host's single thread is through.
 * Measured where the calling thread waited (2-vCPU VM, fresh processes): the digits' packed K at n = 1,797 (14 MiB)
 * after its program's assembly, 35–50 ms; a 4.6 MiB store and a factor's memory at n = 1,000, 11 and 14 ms. Safe
 * because nothing is in the memory yet: the host writes undefined bytes, these writes zeros, and the caller writes
 * its data only after this returns, when both have ended.
 */
export async function awaitPrefaulted(taken: { memory: WebAssembly.Memory; ready: Promise<unknown> }): Promise<void> {
  let ended = false;
  const done = taken.ready.then(() => { ended = true; });
  const bytes = layoutBytes(taken.memory);
  for (let at = bytes.length; !ended && at > 0;) {
    const stop = Math.max(0, at - TOUCH_CHUNK_PAGES * TOUCH_STRIDE);
    for (let b = at - TOUCH_STRIDE; b >= stop; b -= TOUCH_STRIDE) bytes[b] = 0;
    at = stop;
    await nextTurn();
  }
  await done;
}

/**
 * The index of the smallest of `memories` that serves a request of `pages` (see SLACK), or −1: sizes are the pages
 * each was made for (platform.ts `memoryPages`).
 */
function bestFit(memories: readonly WebAssembly.Memory[], pages: number): number {
  const most = pages + Math.max(MIN_SLACK_PAGES, Math.ceil(pages * SLACK));
  let best = -1;
  for (let k = 0; k < memories.length; k++) {
    const size = memoryPages(memories[k]!);
    if (size >= pages && size <= most && (best < 0 || size < memoryPages(memories[best]!))) best = k;
  }
  return best;
}

/** The bytes of `memory` a layout may use, from its huge-page boundary on (what a prefault writes). */
const layoutBytes = (memory: WebAssembly.Memory): Uint8Array =>
  new Uint8Array(memory.buffer as unknown as ArrayBuffer, memoryBase(memory), memoryPages(memory) * 65536);

/** A shared memory of at least `pages` pages (64 KiB): a recycled one of about that size, else a new one. */
export function acquireMemory(pages: number): WebAssembly.Memory {
  const best = bestFit(free, pages);
  if (best >= 0) return free.splice(best, 1)[0]!;
  return newWasmMemory(pages);
}

/**
 * Keeps `memory` for a later `acquireMemory` (its owner must not use it again). Beyond
 * `defaultDenseCacheBytes()` in all, the oldest kept memories are dropped (left to the garbage collector).
 */
export function recycleMemory(memory: WebAssembly.Memory): void {
  if (free.includes(memory)) return;
  free.push(memory);
  let bytes = recycledMemoryBytes();
  while (free.length > 1 && bytes > defaultDenseCacheBytes()) bytes -= memoryPages(free.shift()!) * 65536;
}

/** Drops every recycled memory and any being prefaulted (the garbage collector frees them); returns the recycled bytes dropped. */
export function emptyMemoryCache(): number {
  const bytes = recycledMemoryBytes();
  free.length = 0;
  prefaulting.clear();
  return bytes;
}

/**
 * Bytes held for recycling: the pages each memory was made for (`memoryPages`; a huge-page memory's pages below its
 * boundary are never touched, and its last huge page is at most 2 MiB more).
 */
export function recycledMemoryBytes(): number {
  return free.reduce((s, m) => s + memoryPages(m) * 65536, 0);
}
