/**
 * float64 → float32 narrowing of a vector together with Σ x_j², by WASM SIMD: the host half of a one-column GPU
 * product (`tryGpuMatvec` uploads the float32 copy and reads x's scale off the sum of squares). Four entries per
 * step: two f64x2 loads, two demotes, one 16-byte store, two squares accumulated in f64x2.
 *
 * Measured on the development VM (AMD EPYC, Node 20), 65,536 entries, median of 500: 20 µs including the 6 µs copy
 * of x into the module's memory, against 41 µs for the scalar JS loop it replaces (that loop measured 97 µs on the
 * H100 machine's host, where the whole product's host budget is ≈ 0.25 ms).
 *
 * The program text is fixed (no input reaches it).
 */
import { assembleWat } from './wat-assemble.js';
import { useOptimizingCompiler } from './programs.js';

const WAT = `(module
  (import "env" "mem" (memory 1 65536))
  ;; dst[j] = f32(src[j]) for j < n; returns sum of src[j]^2 (two lanes, two accumulators)
  (func (export "narrow") (param $src i32) (param $dst i32) (param $n i32) (result f64)
    (local $end4 i32) (local $end i32) (local $a v128) (local $b v128) (local $s0 v128) (local $s1 v128) (local $v f64) (local $t f64)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 3))))
    (local.set $end4 (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 3))))
    (block $done (loop $quads
      (br_if $done (i32.ge_u (local.get $src) (local.get $end4)))
      (local.set $a (v128.load (local.get $src)))
      (local.set $b (v128.load offset=16 (local.get $src)))
      (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $a) (local.get $a))))
      (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $b) (local.get $b))))
      (v128.store (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero (local.get $a)) (f32x4.demote_f64x2_zero (local.get $b))))
      (local.set $src (i32.add (local.get $src) (i32.const 32)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $quads)))
    (block $tail_done (loop $tail
      (br_if $tail_done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $v (f64.load (local.get $src)))
      (local.set $t (f64.add (local.get $t) (f64.mul (local.get $v) (local.get $v))))
      (f32.store (local.get $dst) (f32.demote_f64 (local.get $v)))
      (local.set $src (i32.add (local.get $src) (i32.const 8)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (br $tail)))
    (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
    (f64.add (local.get $t) (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))))`;

interface NarrowExports {
  narrow(src: number, dst: number, n: number): number;
}

/** The module's exports and its memory (not shared: the GPU upload reads a plain ArrayBuffer). */
let instance: { wasm: NarrowExports; mem: WebAssembly.Memory } | undefined;

function instantiate(): { wasm: NarrowExports; mem: WebAssembly.Memory } {
  useOptimizingCompiler();
  const module = new WebAssembly.Module(assembleWat(WAT) as Uint8Array<ArrayBuffer>);
  const mem = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
  return { wasm: new WebAssembly.Instance(module, { env: { mem } }).exports as unknown as NarrowExports, mem };
}

/** Largest count narrowed at once: 12 bytes an entry within the 4 GiB a memory addresses. */
const MAX_COUNT = Math.floor((2 ** 32 - 2 * 65536) / 12);

/** A float32 copy of x[start, start + count) and Σ x_j² over it (NaN or ∞ where an entry is). */
export interface Narrowed {
  /** The float32 entries: a view into the module's memory, valid until the next call. */
  readonly data: Float32Array;
  readonly squares: number;
}

/** x[start, start + count) narrowed to float32, with its sum of squares; the view is overwritten by the next call. */
export function narrowWithSquares(x: Float64Array, start: number, count: number): Narrowed {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > x.length || count > MAX_COUNT) {
    throw new RangeError(`narrowWithSquares: range [${start}, ${start + count}) outside a vector of ${x.length} entries (at most ${MAX_COUNT})`);
  }
  const { wasm, mem } = (instance ??= instantiate());
  // float64 source at 0, float32 destination after it (16-byte aligned)
  const dst = Math.ceil((count * 8) / 16) * 16;
  const need = dst + count * 4;
  const have = mem.buffer.byteLength;
  if (need > have) mem.grow(Math.ceil((need - have) / 65536));
  const buffer = mem.buffer;
  new Float64Array(buffer, 0, count).set(count === x.length ? x : x.subarray(start, start + count));
  const squares = wasm.narrow(0, dst, count);
  return { data: new Float32Array(buffer, dst, count), squares };
}
