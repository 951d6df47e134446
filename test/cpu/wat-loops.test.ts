/**
 * The unrolled loop shapes of src/cpu/wat-loops.ts, which the fixed programs (factor panels and updates, solves, basis
 * sweeps, Grams, LU, QL) run since the process compiles without V8's loop unrolling: every item visited once, in
 * order, for every count and copy number, the remainder left to the caller as the plain loops left it; and the
 * programs that use them give the bits of their plain loops (their own tests compare them with the JS oracles).
 */
import { describe, expect, it } from 'vitest';
import { assembleWat } from '../../src/cpu/wat-assemble.js';
import { unrolledLoop, vectorLoop } from '../../src/cpu/wat-loops.js';

/** A module whose `run(p, end)` applies `loop` (over $p up to $end) and returns where $p ended. */
function instantiate(loop: string[]): { run: (p: number, end: number) => number; memory: WebAssembly.Memory } {
  const wat = [
    '(module',
    '(import "env" "mem" (memory 1))',
    '(func (export "run") (param $p i32) (param $end i32) (result i32) (local $n i32) (local $acc f64)',
    ...loop,
    '(local.get $p))',
    ')',
  ].join('\n');
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(assembleWat(wat) as Uint8Array<ArrayBuffer>), { env: { mem: memory } });
  return { run: instance.exports['run'] as (p: number, end: number) => number, memory };
}

describe('vectorLoop: whole vectors, in order, the rest left to the caller', () => {
  it('stamps each 16-byte vector once with its visit number, for 0–13 vectors plus 0 or 8 bytes, 1–5 copies a trip', () => {
    for (let copies = 1; copies <= 5; copies++) {
      // each visit stores the running count n into the vector's first 4 bytes, then counts on
      const { run, memory } = instantiate(vectorLoop('v', 'p', '(local.get $end)', [
        '(i32.store (local.get $p) (local.get $n))',
        '(local.set $n (i32.add (local.get $n) (i32.const 1)))',
      ], copies));
      for (let vectors = 0; vectors <= 13; vectors++) {
        for (const extra of [0, 8]) {
          const words = new Int32Array(memory.buffer);
          words.fill(-1);
          const start = 64;
          const end = start + 16 * vectors + extra;
          const stopped = run(start, end);
          // the pointer ends at the first byte less than a vector from the end
          expect(stopped).toBe(start + 16 * vectors);
          for (let v = 0; v < vectors; v++) expect(words[(start + 16 * v) / 4]).toBe(v);
          // nothing past the last whole vector is touched
          expect(words[(start + 16 * vectors) / 4]).toBe(-1);
        }
      }
    }
  });

  it('a reduction over the items gives the plain loop’s sum, in its order (a rounding-sensitive series)', () => {
    const items = 37;
    const values = Float64Array.from({ length: items }, (_, i) => (i % 3 === 0 ? 1e16 : i % 3 === 1 ? -1e16 : 1 + i / 7));
    let plain = 0;
    for (const v of values) plain += v;
    for (const copies of [1, 2, 4]) {
      const { run, memory } = instantiate([
        '(local.set $acc (f64.const 0))',
        ...vectorLoop('s', 'p', '(local.get $end)', ['(local.set $acc (f64.add (local.get $acc) (f64.load (local.get $p))))'], copies, 8),
        '(f64.store (i32.const 0) (local.get $acc))',
      ]);
      new Float64Array(memory.buffer, 64, items).set(values);
      run(64, 64 + 8 * items);
      expect(Object.is(new Float64Array(memory.buffer, 0, 1)[0], plain)).toBe(true);
    }
  });
});

describe('unrolledLoop: a body while a condition holds, tested before each copy', () => {
  it('runs the body exactly as often as the plain loop (0–11 times), whatever the copies', () => {
    for (const copies of [1, 2, 3, 4]) {
      // body: p += 1 while p < end
      const { run } = instantiate(unrolledLoop('u', '(i32.ge_s (local.get $p) (local.get $end))', ['(local.set $p (i32.add (local.get $p) (i32.const 1)))'], copies));
      for (let times = 0; times <= 11; times++) expect(run(5, 5 + times)).toBe(5 + times);
      // a condition already met: no body at all
      expect(run(9, 3)).toBe(9);
    }
  });
});
