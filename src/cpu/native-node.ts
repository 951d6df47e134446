/**
 * lazylinalg's optional native helper in Node (native/huge-pages.c, built at install by scripts/build-native.mjs):
 * huge pages for large memories, the prefault of fresh pages on libuv's thread pool, and SHA-256 — each with a
 * fallback where the helper is not there (not Linux, not built, Deno without FFI permission). Why the last two: their
 * fallbacks come from node:crypto, whose loading cost a fresh process ≈ 5–6 ms of its calling thread (2-vCPU VM), a
 * twentieth of a small eigsh (bench/RESULTS.md, nineteenth session).
 */
import type { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Loads what only some processes need (the helper, node:crypto) at first use, not at import. */
const load = createRequire(import.meta.url);

/** The helper's version this module needs: 3 — sha256, a prefault that keeps every byte, huge-page boundaries. */
export const NATIVE_HELPER_VERSION = 3;

export interface NativeHelper {
  readonly version: number;
  /** The offset in `bytes` of its first huge-page boundary where the kernel accepted, else -1 (native/huge-pages.c). */
  adviseHugePages(bytes: Uint8Array): number;
  /** The kernel's huge-page size in bytes. */
  readonly hugePageBytes: number;
  prefault(bytes: Uint8Array, done: (error: Error | null) => void): void;
  sha256(...parts: (string | Uint8Array)[]): Buffer;
}

/** What `nativeHelper` found: the helper, or why there is none. */
let found: { helper: NativeHelper } | { off: string } | undefined;

/** The helper, or undefined (`nativeHelperMissing` says why). Loaded at the first call. */
export function nativeHelper(): NativeHelper | undefined {
  found ??= loadHelper();
  return 'helper' in found ? found.helper : undefined;
}

/** Why there is no helper, or undefined where there is one. */
export function nativeHelperMissing(): string | undefined {
  nativeHelper();
  return found && 'off' in found ? found.off : undefined;
}

function loadHelper(): { helper: NativeHelper } | { off: string } {
  if (process.platform !== 'linux') return { off: `not Linux (${process.platform})` };
  // Deno (the notebooks' kernel) loads a native addon only with FFI permission: never prompt for it
  const deno = (globalThis as { Deno?: { permissions: { querySync(d: { name: string }): { state: string } } } }).Deno;
  if (deno && deno.permissions.querySync({ name: 'ffi' }).state !== 'granted') return { off: 'Deno without --allow-ffi' };
  const path = fileURLToPath(new URL('../../native/build/huge-pages.node', import.meta.url));
  try {
    const helper = load(path) as Partial<NativeHelper>;
    if (helper.version !== NATIVE_HELPER_VERSION) {
      return { off: `${path} is version ${String(helper.version ?? 1)}, this lazylinalg needs ${NATIVE_HELPER_VERSION} (built by another version: npm rebuild lazylinalg)` };
    }
    // a known answer before the helper names or checks anything (FIPS 180-4's "abc")
    if (helper.sha256!('abc').toString('hex') !== 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad') {
      return { off: `${path}: its SHA-256 gives a wrong digest` };
    }
    return { helper: helper as NativeHelper };
  } catch (error) {
    return { off: `${path} not loaded: ${(error as Error).message.split('\n')[0]}` };
  }
}

/** SHA-256 of the parts one after another (a string's UTF-8 bytes): the helper's, else node:crypto's. */
export function sha256(...parts: (string | Uint8Array)[]): Buffer {
  const helper = nativeHelper();
  if (helper) return helper.sha256(...parts);
  const hash = (load('node:crypto') as typeof import('node:crypto')).createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** Makes a fresh memory's pages present on another thread: the helper's writes, else node:crypto's randomFill. */
export function prefaultPages(bytes: Uint8Array): Promise<void> {
  const helper = nativeHelper();
  if (helper) return new Promise<void>((resolve, reject) => helper.prefault(bytes, (error) => (error ? reject(error) : resolve())));
  const { randomFill } = load('node:crypto') as typeof import('node:crypto');
  return new Promise<void>((resolve, reject) => randomFill(bytes, (error) => (error ? reject(error) : resolve())));
}

