/**
 * What the CPU backend needs from its host, installed once by the entry point: the Node entry
 * (`platform-node.ts`: os, piscina worker threads, V8 flags) or the browser entry
 * (`platform-browser.ts`: Web Workers, `navigator`). Nothing below the entry sniffs its runtime, so a
 * browser bundle's module graph holds no Node built-in.
 */

/** One task of a product on the pool's memory: `module`'s `reduce(...args)` against `memory`. */
export interface PoolTask {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  args: number[];
  /** The worker first collects its garbage: memories the caller dropped are freed only then (pool.ts). */
  collect?: boolean;
}

/** A worker of a pool: says 'online' once it can take tasks. */
export interface PoolWorker {
  once(event: 'online', listener: () => void): unknown;
  terminate(): Promise<unknown> | void;
}

/** A pool of workers running one `PoolTask` each at a time (piscina's shape: its Node pool is one). */
export interface WorkerPool {
  readonly threads: readonly PoolWorker[];
  /** Tasks waiting for a worker. */
  readonly queueSize: number;
  run(task: PoolTask): Promise<unknown>;
  destroy(): Promise<void>;
  /**
   * How many workers have started running their code, read without the event loop (through which 'online' events
   * arrive): absent where the host has no shared memory to count in.
   */
  booted?(): number;
}

export interface CpuPlatform {
  /** For messages, e.g. 'node' or 'browser (cross-origin isolated)'. */
  readonly name: string;
  /** Whether WebAssembly memories are created shared (workers then read and write the caller's memory). */
  readonly sharedMemory: boolean;
  /** Threads products may use: the cores, or 1 where memories cannot be shared with workers. */
  cores(): number;
  /** Bytes of memory of the machine (an estimate where the host hides it). */
  totalMemory(): number;
  /** An environment setting (LAZYLINALG_THREADS, …), undefined where the host has none. */
  env(name: string): string | undefined;
  /** A warning to the user, once per call. */
  warn(message: string, code: string): void;
  /** Asks the host to compile later WebAssembly modules with its optimizing tier only, where it can. */
  optimizeWasm(): void;
  /** Asks the host to accept relaxed-SIMD instructions in later modules, where they are behind a setting (Node 20). */
  enableRelaxedSimd?(): void;
  /**
   * Whether this thread may compile a module synchronously (`new WebAssembly.Module`): Node may; a browser's main
   * thread refuses modules over 4 KB so.
   */
  readonly syncCompile: boolean;
  /** A pool of `threads` workers, each able to run a `PoolTask`. */
  createPool(threads: number): WorkerPool;
  /**
   * Writes every page of `bytes` (leaving them undefined) on threads other than the calling one, resolving when
   * done: the OS then provides a fresh memory's pages there instead of at the first touches of the code that fills
   * them. Absent where the host has no such threads.
   */
  prefault?(bytes: Uint8Array): Promise<void>;
  /**
   * A fixed program's bytes assembled by the build (programs.ts); undefined where the host has no such table, no entry
   * for `key`, or — where it cannot tell the table current — one made from other text than `text()` gives.
   */
  precompiledProgram?(key: string, text: () => string): Uint8Array | undefined;
  /**
   * The bytes an earlier process assembled from `text` and kept (`keepProgram`), where the host keeps programs
   * across processes (Node: a cache on disk, src/cpu/program-cache-node.ts); undefined where it has none for it.
   */
  cachedProgram?(text: string): Uint8Array | undefined;
  /**
   * A text that stands for a formula program's own in `cachedProgram` and `keepProgram`: its key together with a
   * digest of the modules that generate program texts, where the host can vouch that they are the ones the digest was
   * taken of (Node: the build's, src/cpu/platform-node.ts) — the key determines the text there. Undefined where it
   * cannot: the text itself is then the name.
   */
  programName?(key: string): string | undefined;
  /** Keeps the bytes assembled from `text` for later processes (written off the calling thread). */
  keepProgram?(text: string, bytes: Uint8Array): void;
  /**
   * Asks the OS for large pages (Linux: transparent huge pages) on the bytes of a fresh memory, before anything
   * touches them. Returns the offset in `bytes` of the first large-page boundary (pages below it stay small), or
   * undefined where the request was not made or not accepted. Absent where the host cannot ask.
   */
  adviseHugePages?(bytes: Uint8Array): number | undefined;
  /** The size of those large pages in bytes, where `adviseHugePages` can be made; undefined where not. */
  hugePageBytes?(): number | undefined;
}

let installed: CpuPlatform | undefined;

/** Installs the host's platform (the entry points do; tests importing internals use test/setup-platform.ts). */
export function installCpuPlatform(platform: CpuPlatform): void {
  installed = platform;
}

/** The installed platform; an error saying how to get one when no entry point installed it. */
export function cpuPlatform(): CpuPlatform {
  if (!installed) {
    throw new Error("lazylinalg: no CPU platform installed; import 'lazylinalg' (Node or browser entry) before its internal modules");
  }
  return installed;
}

/**
 * An on/off environment setting (LAZYLINALG_PREFAULT, LAZYLINALG_HUGEPAGES): unset, blank or 1 is on, 0 off; anything
 * else is an error naming it, never read as the default.
 */
export function switchSetting(name: string, raw: string | undefined): boolean {
  const value = raw?.trim() ?? '';
  if (value === '' || value === '1') return true;
  if (value === '0') return false;
  throw new RangeError(`${name} must be 0 (off) or 1 (on, the default), got '${raw}'`);
}

/**
 * Memories from this size ask for huge pages (below, the 4 KiB pages' faults cost about what one huge page's does:
 * ≈ 12 µs a 4 KiB page against ≈ 1 ms a 2 MiB one on the 2-vCPU VM, Firecracker).
 */
export const HUGE_PAGES_MIN_BYTES = 512 * 1024;

/** A memory's first huge-page boundary (`memoryBase`) and the 64 KiB pages it was made for (`memoryPages`). */
const hugeLayouts = new WeakMap<WebAssembly.Memory, { base: number; pages: number }>();

/** The huge-page size a memory of `pages` is laid out for, or undefined where it gets the host's default pages. */
function hugePagesFor(pages: number): number | undefined {
  if (pages * 65536 < HUGE_PAGES_MIN_BYTES) return undefined;
  const huge = cpuPlatform().hugePageBytes?.();
  // the room for a boundary must keep the memory addressable (below 4 GiB)
  return huge !== undefined && huge % 65536 === 0 && (Math.ceil((pages * 65536) / huge) + 1) * huge < 2 ** 32 ? huge : undefined;
}

/**
 * A memory of `pages` 64 KiB pages (fixed size), shared with the workers where the platform allows. From
 * HUGE_PAGES_MIN_BYTES on, where the host can ask for huge pages (`CpuPlatform.adviseHugePages`), it is asked for
 * them over all of it and holds `pages` pages from its first huge-page boundary (`memoryBase`) on, whole huge pages
 * to the last: V8 places a memory on a 64 KiB boundary, so a layout from byte 0 began in up to 2 MiB of 4 KiB pages
 * (512 faults, ≈ 6 ms on the VM) and ended in more. The pages below the boundary and past the last huge page are
 * never touched by a layout from the boundary, and cost nothing.
 */
export function newWasmMemory(pages: number): WebAssembly.Memory {
  const platform = cpuPlatform();
  const huge = hugePagesFor(pages);
  const total = huge === undefined ? pages : (Math.ceil((pages * 65536) / huge) + 1) * (huge / 65536);
  const memory = new WebAssembly.Memory({ initial: total, maximum: total, shared: platform.sharedMemory });
  if (huge !== undefined) {
    const base = platform.adviseHugePages?.(new Uint8Array(memory.buffer as unknown as ArrayBuffer));
    if (base !== undefined) hugeLayouts.set(memory, { base, pages });
  }
  return memory;
}

/**
 * The byte from which a layout in `memory` lies on huge pages only (its first huge-page boundary), or 0 where it has
 * none (the host's default pages): a multiple of 64 KiB. A layout of the `memoryPages` it was made for fits from
 * there, and from byte 0 too.
 */
export function memoryBase(memory: WebAssembly.Memory): number {
  return hugeLayouts.get(memory)?.base ?? 0;
}

/** The 64 KiB pages `memory` was made for (`newWasmMemory(pages)`): what a layout in it may use, from its `memoryBase`. */
export function memoryPages(memory: WebAssembly.Memory): number {
  return hugeLayouts.get(memory)?.pages ?? memory.buffer.byteLength / 65536;
}

/** The module text for this platform: the emitters import a shared memory, which an unshared one cannot satisfy. */
export function watForPlatform(wat: string): string {
  return watForMemory(wat, cpuPlatform().sharedMemory);
}

/** The module text for a host whose memories are shared (the text as emitted) or not. */
export function watForMemory(wat: string, shared: boolean): string {
  return shared ? wat : wat.replace(/\(memory 1 65536 shared\)/g, '(memory 1 65536)');
}
