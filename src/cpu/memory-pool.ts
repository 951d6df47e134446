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
import { cpuPlatform, newWasmMemory } from './platform.js';

/** The default budget of 'auto' dense caches, and the most memory kept here: totalmem/8, at most 2 GiB. */
export function defaultDenseCacheBytes(): number {
  return Math.min(2 ** 31, Math.floor(cpuPlatform().totalMemory() / 8));
}

/** A recycled memory serves a request of `pages` if it has at most this much more (1/8, at least 1 MiB). */
const SLACK = 1 / 8;
const MIN_SLACK_PAGES = 16;

const free: WebAssembly.Memory[] = [];

const pagesOf = (memory: WebAssembly.Memory): number => memory.buffer.byteLength / 65536;

/** A shared memory of at least `pages` pages (64 KiB): a recycled one of about that size, else a new one. */
export function acquireMemory(pages: number): WebAssembly.Memory {
  const most = pages + Math.max(MIN_SLACK_PAGES, Math.ceil(pages * SLACK));
  let best = -1;
  for (let k = 0; k < free.length; k++) {
    const size = pagesOf(free[k]!);
    if (size >= pages && size <= most && (best < 0 || size < pagesOf(free[best]!))) best = k;
  }
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
  while (free.length > 1 && bytes > defaultDenseCacheBytes()) bytes -= free.shift()!.buffer.byteLength;
}

/** Drops every recycled memory (the garbage collector frees them); returns the bytes dropped. */
export function emptyMemoryCache(): number {
  const bytes = recycledMemoryBytes();
  free.length = 0;
  return bytes;
}

/** Bytes held for recycling. */
export function recycledMemoryBytes(): number {
  return free.reduce((s, m) => s + m.buffer.byteLength, 0);
}
