/**
 * Loop shapes shared by the fixed programs' WAT generators.
 *
 * Why by hand: V8 compiles this library's modules without its loop unrolling (`--no-wasm-loop-unrolling`, see
 * platform-node.ts), which made every compile slower and the formula programs' long loop bodies slower too. The
 * short loops it sped up (a factor's panel and update, a solve's rows, a basis combination, a Gram) are unrolled here
 * as it unrolled them.
 */

/**
 * WAT for `while (!done) body`, `copies` bodies a trip, `done` (an i32 WAT expression) tested before each. Why this
 * shape: one back edge — and one of V8's interrupt checks, which it places at every loop header — per `copies`
 * bodies, while each body stays a block of its own: with the bodies in one block, TurboFan hoisted the loads of all
 * of them ahead and spilled registers (a landmark preconditioner's Gram 53 % slower than with V8's own unrolling).
 * The bodies run in their order, so the results are those of the plain loop.
 */
export function unrolledLoop(label: string, done: string, body: string[], copies = 4): string[] {
  const copy = [`(br_if $${label}Done ${done})`, ...body];
  return [
    `(block $${label}Done (loop $${label}Loop`,
    ...Array.from({ length: copies }, () => copy).flat(),
    `(br $${label}Loop)))`,
  ];
}

/**
 * `unrolledLoop` over the whole `bytes`-byte items (16: a vector) from `$ptr` up to `end` (a WAT expression): `step`
 * handles the item at `$ptr`, then `$ptr += bytes`. Less than an item is left for the caller (`$ptr` ends at it).
 */
export function vectorLoop(label: string, ptr: string, end: string, step: string[], copies = 4, bytes = 16): string[] {
  const at = `(local.get $${ptr})`;
  return unrolledLoop(label, `(i32.gt_u (i32.add ${at} (i32.const ${bytes})) ${end})`, [...step, `(local.set $${ptr} (i32.add ${at} (i32.const ${bytes})))`], copies);
}
