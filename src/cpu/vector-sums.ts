/**
 * Dot products, sums of squares and sums of float64 vectors (operators/vectors.ts `dot`, `norm`, `residualNorm`; the
 * packed products' mirror sums) and finiteness checks (operators/validate.ts `allFinite`) by a small fixed program, with
 * the plain loops' bits: the same IEEE multiplies and adds, left to right, no fused multiply-add.
 *
 * Why: a fresh process runs those loops in V8's unoptimised tiers, where every multiply and add boxes a double. In a
 * shift-invert eigsh at n = 1,500 the Rayleigh quotients, the true residuals and the checks of the solves' results
 * allocated ≈ 1.5 MiB of the 8 MiB its calling thread allocated (sampled), and each MiB is a scavenge of 1–3 ms
 * (2-vCPU VM). In the program the loops take microseconds and allocate nothing; the vectors are copied into its memory
 * first (a memcpy). Outside [VECTOR_SUMS_MIN, VECTOR_SUMS_MAX] the loops serve: short ones cost less than the copies,
 * long ones run long enough for V8 to optimise them — and so do all until the program, asked for at the first call,
 * is compiled.
 */
import { acquireMemory, recycleMemory } from './memory-pool.js';
import { fixedProgram } from './programs.js';

/** Entries from which the program sums (below, the loops cost about what the copies and the call do). */
export const VECTOR_SUMS_MIN = 256;
/** Entries up to which it does: longer loops run long enough for V8 to optimise them, and the copies would grow. */
export const VECTOR_SUMS_MAX = 1 << 16;

/** Sums taken by the program (tests read it). */
export const vectorSumCounts = { program: 0 };

/** The program, compiled (tests wait for it: until then the loops serve). */
export const vectorSumsCompiled = (): Promise<WebAssembly.Module> => program();

const program = fixedProgram('vector-sums|dot-residual-finite-add', () => [
  '(module',
  '(import "env" "mem" (memory 1 65536 shared))',
  // Σ x_i·y_i over n entries at byte addresses x and y, i from 0 up
  '(func (export "dot") (param $x i32) (param $y i32) (param $n i32) (result f64)',
  '(local $s f64) (local $end i32)',
  '(local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))',
  '(block $done (loop $next',
  '(br_if $done (i32.ge_u (local.get $x) (local.get $end)))',
  '(local.set $s (f64.add (local.get $s) (f64.mul (f64.load (local.get $x)) (f64.load (local.get $y)))))',
  '(local.set $x (i32.add (local.get $x) (i32.const 8)))',
  '(local.set $y (i32.add (local.get $y) (i32.const 8)))',
  '(br $next)))',
  '(local.get $s))',
  // Σ (a_i − λ·x_i)² over n entries at a and x: each difference rounded as the loop's array entry is, then squared
  '(func (export "residual") (param $a i32) (param $x i32) (param $lambda f64) (param $n i32) (result f64)',
  '(local $s f64) (local $d f64) (local $end i32)',
  '(local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))',
  '(block $done (loop $next',
  '(br_if $done (i32.ge_u (local.get $a) (local.get $end)))',
  '(local.set $d (f64.sub (f64.load (local.get $a)) (f64.mul (local.get $lambda) (f64.load (local.get $x)))))',
  '(local.set $s (f64.add (local.get $s) (f64.mul (local.get $d) (local.get $d))))',
  '(local.set $a (i32.add (local.get $a) (i32.const 8)))',
  '(local.set $x (i32.add (local.get $x) (i32.const 8)))',
  '(br $next)))',
  '(local.get $s))',
  // Σ x_i·0 over n entries at x: ±0 exactly when every entry is finite (∞·0 and NaN·0 are NaN)
  '(func (export "finite") (param $x i32) (param $n i32) (result f64)',
  '(local $s f64) (local $end i32)',
  '(local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))',
  '(block $done (loop $next',
  '(br_if $done (i32.ge_u (local.get $x) (local.get $end)))',
  '(local.set $s (f64.add (local.get $s) (f64.mul (f64.load (local.get $x)) (f64.const 0))))',
  '(local.set $x (i32.add (local.get $x) (i32.const 8)))',
  '(br $next)))',
  '(local.get $s))',
  // to_i += from_i over n entries at byte addresses to and from, i from 0 up
  '(func (export "add") (param $to i32) (param $from i32) (param $n i32)',
  '(local $end i32)',
  '(local.set $end (i32.add (local.get $to) (i32.shl (local.get $n) (i32.const 3))))',
  '(block $done (loop $next',
  '(br_if $done (i32.ge_u (local.get $to) (local.get $end)))',
  '(f64.store (local.get $to) (f64.add (f64.load (local.get $to)) (f64.load (local.get $from))))',
  '(local.set $to (i32.add (local.get $to) (i32.const 8)))',
  '(local.set $from (i32.add (local.get $from) (i32.const 8)))',
  '(br $next)))',
  ')',
  ')',
].join('\n'));

interface Sums {
  dot(x: number, y: number, n: number): number;
  residual(a: number, x: number, lambda: number, n: number): number;
  add(to: number, from: number, n: number): void;
  finite(x: number, n: number): number;
}

/** The program's memory (room for two vectors of `entries`) and its instance, or undefined where it cannot run now. */
let current: { memory: WebAssembly.Memory; entries: number; sums: Sums } | undefined;

/**
 * Whether the program is compiled; if not, it is asked for — compiled on V8's threads while the loops serve (compiled
 * on this thread, the 360-byte module took 1.5 ms of a fresh process's calling thread).
 */
function compiled(): boolean {
  if (program.compiled()) return true;
  program.prepare();
  return false;
}

function sumsFor(entries: number): { memory: WebAssembly.Memory; sums: Sums } | undefined {
  if (current && current.entries >= entries) return current;
  if (!compiled()) return undefined;
  const room = Math.max(entries, 4096);
  let memory: WebAssembly.Memory;
  try {
    memory = acquireMemory(Math.ceil((16 * room + 64) / 65536));
  } catch {
    return undefined; // no CPU platform installed (an internal module imported alone): the loops serve
  }
  const exports = program.instanceOn(memory);
  if (!exports) {
    recycleMemory(memory);
    return undefined;
  }
  if (current) recycleMemory(current.memory);
  current = { memory, entries: room, sums: exports as unknown as Sums };
  return current;
}

/** Copies x and y (n entries each) into the program's memory; their byte addresses, or undefined (see `sumsFor`). */
function copied(x: Float64Array, y: Float64Array): { sums: Sums; x: number; y: number } | undefined {
  const n = x.length;
  if (n < VECTOR_SUMS_MIN || n > VECTOR_SUMS_MAX || y.length !== n) return undefined;
  const at = sumsFor(n);
  if (!at) return undefined;
  vectorSumCounts.program++;
  const view = new Float64Array(at.memory.buffer as unknown as ArrayBuffer, 64, 2 * n);
  view.set(x);
  if (y === x) return { sums: at.sums, x: 64, y: 64 };
  view.set(y, n);
  return { sums: at.sums, x: 64, y: 64 + 8 * n };
}

/** Σ x_i·y_i in the program (the plain loop's bits), or undefined where the loop should run (length, host). */
export function dotInProgram(x: Float64Array, y: Float64Array): number | undefined {
  const at = copied(x, y);
  return at?.sums.dot(at.x, at.y, x.length);
}

/** Σ (a_i − λ·x_i)² in the program (the bits of the loop over a.map((v, i) => v − λ·x_i)), or undefined (as `dotInProgram`). */
export function residualInProgram(a: Float64Array, lambda: number, x: Float64Array): number | undefined {
  const at = copied(a, x);
  return at?.sums.residual(at.x, at.y, lambda, a.length);
}

/** Whether every entry of x is finite, by the program (no boxed double an entry), or undefined (as `dotInProgram`). */
export function allFiniteInProgram(x: Float64Array): boolean | undefined {
  const at = copied(x, x);
  return at && at.sums.finite(at.x, x.length) === 0;
}

/**
 * The adder of float64 vectors inside `memory` — `add(to, from, n)`: to_i += from_i at byte addresses, i from 0 up (the
 * loop's bits) — or undefined where the host cannot compile it now (the caller keeps its loop). For the packed
 * products' mirror sums (dense-product.ts), added where they lie before one copy out.
 */
export function adderOn(memory: WebAssembly.Memory): ((to: number, from: number, n: number) => void) | undefined {
  if (!compiled()) return undefined;
  const exports = program.instanceOn(memory) as unknown as Sums | undefined;
  return exports?.add;
}
