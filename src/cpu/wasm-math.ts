/**
 * Vectorised elementary functions emitted as WebAssembly SIMD text (WAT), lane-wise on
 * f64x2 (float64) or f32x4 (float32). WebAssembly has no exp/log instruction; these are the
 * classic range-reduction + polynomial schemes, written once here and inlined by the emitter
 * at every use (V8 does not inline wasm calls in hot loops).
 */

export type LaneType = 'f64x2' | 'f32x4';

/** Allocates fresh v128 locals for temporaries. */
export interface LocalAllocator {
  v128(): string;
}

/** A finite number as WAT float literal text (round-trippable). */
export function floatLiteral(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`internal: non-finite constant ${v} reached the WASM emitter`);
  return Object.is(v, -0) ? '-0.0' : String(v);
}

/** A splatted special value (±∞, NaN), which `floatLiteral` deliberately refuses. */
function splatSpecial(lane: LaneType, v: 'inf' | '-inf' | 'nan'): string {
  return lane === 'f64x2' ? `(f64x2.splat (f64.const ${v}))` : `(f32x4.splat (f32.const ${v}))`;
}

export function splatConst(lane: LaneType, v: number): string {
  return lane === 'f64x2'
    ? `(f64x2.splat (f64.const ${floatLiteral(v)}))`
    : `(f32x4.splat (f32.const ${floatLiteral(v)}))`;
}

/**
 * Near-minimax polynomials for exp(r) on |r| ≤ ln2/2: Chebyshev-node interpolants, fitted with
 * numpy (degree 10 for float64, 6 for float32). Max relative error measured on 2·10⁵ points,
 * evaluation round-off included: 6.7e-16 and 2.5e-9 respectively.
 */
const EXP_POLY_F64 = [
  1.0, 1.0000000000000073, 0.5000000000000235, 0.16666666666555036, 0.04166666666550428,
  0.00833333338482444, 0.0013888889137514304, 0.00019841171589508926, 2.4801332078774532e-5,
  2.7639598012262424e-6, 2.7678884347804297e-7,
];
const EXP_POLY_F32 = [
  0.9999999999999999, 1.0000000377162133, 0.5000000047117737, 0.16666415514655936,
  0.04166635289685527, 0.008375126397961065, 0.0013941108428389322,
];

/** Horner evaluation of Σ c_k r^k as a folded expression (r given as a local). */
/** The same polynomials in the variable f of 2^f = e^{f·ln2}: coefficient k times ln2^k. */
const EXP2_POLY_F64 = EXP_POLY_F64.map((c, k) => c * Math.LN2 ** k);
const EXP2_POLY_F32 = EXP_POLY_F32.map((c, k) => c * Math.LN2 ** k);

function horner(lane: LaneType, coeffs: readonly number[], r: string): string {
  let acc = splatConst(lane, coeffs[coeffs.length - 1]!);
  for (let k = coeffs.length - 2; k >= 0; k--) {
    acc = `(${lane}.add ${splatConst(lane, coeffs[k]!)} (${lane}.mul (local.get ${r}) ${acc}))`;
  }
  return acc;
}

/**
 * dst = 2^src. Split u = k + f with k = round(u), |f| ≤ ½, by the "magic number" trick:
 * t = u + 1.5·2^52 rounds k into t's low mantissa bits, so k = t − 1.5·2^52 and f = u − k exactly,
 * and (bits(t) << 52) + bits(1.0) is 2^k — no float↔int conversions, which SSE lacks for 64-bit
 * lanes. 2^f = exp(f·ln2) by a polynomial. Results below the smallest normal number flush to 0
 * (as with FTZ), above the largest finite number they are +∞, NaN propagates.
 * `nonPositive`: the caller proved src ≤ 0, so the overflow clamp and test are skipped.
 */
export function emitExp2(lane: LaneType, dst: string, src: string, locals: LocalAllocator, nonPositive = false): string[] {
  const f64 = lane === 'f64x2';
  const c = f64
    ? { lo: -1022, hi: 1024, magic: 6755399441055744, shift: 52, one: 0x3ff, ishl: 'i64x2.shl', iadd: 'i64x2.add', poly: EXP2_POLY_F64 }
    : { lo: -126, hi: 128, magic: 12582912, shift: 23, one: 0x7f, ishl: 'i32x4.shl', iadd: 'i32x4.add', poly: EXP2_POLY_F32 };
  const u = locals.v128();
  const t = locals.v128();
  const f = locals.v128();
  const pos = locals.v128();
  const L = lane;
  // pmin/pmax are single SSE instructions (min/max with IEEE NaN rules are not); NaN survives them
  const clampedHi = nonPositive ? `(local.get ${src})` : `(${L}.pmin (local.get ${src}) ${splatConst(L, c.hi)})`;
  const code = [
    `(local.set ${u} (${L}.pmax ${clampedHi} ${splatConst(L, c.lo)}))`,
    `(local.set ${t} (${L}.add (local.get ${u}) ${splatConst(L, c.magic)}))`,
    `(local.set ${f} (${L}.sub (local.get ${u}) (${L}.sub (local.get ${t}) ${splatConst(L, c.magic)})))`,
    // 2^k as bits (k << shift) + bias. Where k may reach the top exponent (hi), positive k are
    // formed as 2^(k−1)·2 so that values just below the overflow threshold stay finite.
    ...(nonPositive
      ? [`(local.set ${dst} (${L}.mul ${horner(L, c.poly, f)} (${c.iadd} (${c.ishl} (local.get ${t}) (i32.const ${c.shift})) ${biasBits(lane, c.one)})))`]
      : [
          `(local.set ${pos} (${L}.gt (local.get ${u}) ${splatConst(L, 0.5)}))`, // k ≥ 1
          `(local.set ${dst} (${L}.mul (${L}.mul ${horner(L, c.poly, f)} (${c.iadd} (${c.ishl} (local.get ${t}) (i32.const ${c.shift})) (v128.bitselect ${biasBits(lane, c.one - 1)} ${biasBits(lane, c.one)} (local.get ${pos})))) (v128.bitselect ${splatConst(L, 2)} ${splatConst(L, 1)} (local.get ${pos}))))`,
        ]),
    // underflow → 0 (a NaN src compares false and survives)
    `(local.set ${dst} (v128.andnot (local.get ${dst}) (${L}.lt (local.get ${src}) ${splatConst(L, c.lo)})))`,
  ];
  if (!nonPositive) {
    code.push(`(local.set ${dst} (v128.bitselect ${splatSpecial(L, 'inf')} (local.get ${dst}) (${L}.ge (local.get ${src}) ${splatConst(L, c.hi)})))`);
  }
  return code;
}

/** The bit pattern of 2^(e − bias) with exponent field e, splatted (integer lanes). */
function biasBits(lane: LaneType, exponentField: number): string {
  return lane === 'f64x2'
    ? `(i64x2.splat (i64.const ${BigInt(exponentField) << 52n}))`
    : `(i32x4.splat (i32.const ${exponentField << 23}))`;
}

/** dst = e^src = 2^(src·log₂e); callers that can fold log₂e into a hoisted factor use emitExp2. */
export function emitExp(lane: LaneType, dst: string, src: string, locals: LocalAllocator): string[] {
  const u = locals.v128();
  return [
    `(local.set ${u} (${lane}.mul (local.get ${src}) ${splatConst(lane, Math.LOG2E)}))`,
    ...emitExp2(lane, dst, u, locals),
  ];
}

/**
 * dst = log(src). x = 2^e·m with m ∈ [√½, √2), log m = 2·atanh(s), s = (m−1)/(m+1), |s| ≤ 0.1716,
 * odd series to s^21 (float64) / s^9 (float32). Special values as Math.log: log 0 = −∞,
 * log(x<0) = NaN, log ∞ = ∞, NaN → NaN. Subnormal inputs are first scaled by 2^54 (2^24).
 */
export function emitLog(lane: LaneType, dst: string, src: string, locals: LocalAllocator): string[] {
  const x = locals.v128();
  const e = locals.v128();
  const m = locals.v128();
  const s = locals.v128();
  const s2 = locals.v128();
  const big = locals.v128();
  const sub = locals.v128();
  const out: string[] = [];
  if (lane === 'f64x2') {
    const terms = [2, 2 / 3, 2 / 5, 2 / 7, 2 / 9, 2 / 11, 2 / 13, 2 / 15, 2 / 17, 2 / 19, 2 / 21];
    out.push(
      // subnormals: scale up so the exponent field is meaningful
      `(local.set ${sub} (f64x2.lt (local.get ${src}) ${splatConst(lane, 2.2250738585072014e-308)}))`,
      `(local.set ${x} (v128.bitselect (f64x2.mul (local.get ${src}) ${splatConst(lane, 18014398509481984)}) (local.get ${src}) (local.get ${sub})))`,
      // e = exponent field − 1023 (as i64), m = mantissa with exponent of 1.0
      `(local.set ${e} (i64x2.sub (i64x2.shr_u (local.get ${x}) (i32.const 52)) (i64x2.splat (i64.const 1023))))`,
      `(local.set ${m} (v128.or (v128.and (local.get ${x}) (i64x2.splat (i64.const 0x000fffffffffffff))) (i64x2.splat (i64.const 0x3ff0000000000000))))`,
      // m ≥ √2 → m/2, e+1
      `(local.set ${big} (f64x2.ge (local.get ${m}) ${splatConst(lane, Math.SQRT2)}))`,
      `(local.set ${m} (v128.bitselect (f64x2.mul (local.get ${m}) ${splatConst(lane, 0.5)}) (local.get ${m}) (local.get ${big})))`,
      `(local.set ${e} (i64x2.sub (local.get ${e}) (local.get ${big})))`, // mask is −1 where true
      `(local.set ${e} (i64x2.sub (local.get ${e}) (v128.and (local.get ${sub}) (i64x2.splat (i64.const 54)))))`,
      // i64 lanes → f64 lanes: gather the low 32 bits of each lane, then convert
      `(local.set ${e} (f64x2.convert_low_i32x4_s (i8x16.shuffle 0 1 2 3 8 9 10 11 0 1 2 3 8 9 10 11 (local.get ${e}) (local.get ${e}))))`,
      `(local.set ${s} (f64x2.div (f64x2.sub (local.get ${m}) ${splatConst(lane, 1)}) (f64x2.add (local.get ${m}) ${splatConst(lane, 1)})))`,
      `(local.set ${s2} (f64x2.mul (local.get ${s}) (local.get ${s})))`,
      `(local.set ${dst} (f64x2.add (f64x2.mul (local.get ${e}) ${splatConst(lane, Math.LN2)}) (f64x2.mul (local.get ${s}) ${horner(lane, terms, s2)})))`,
    );
  } else {
    const terms = [2, 2 / 3, 2 / 5, 2 / 7, 2 / 9];
    out.push(
      `(local.set ${sub} (f32x4.lt (local.get ${src}) ${splatConst(lane, 1.1754943508222875e-38)}))`,
      `(local.set ${x} (v128.bitselect (f32x4.mul (local.get ${src}) ${splatConst(lane, 16777216)}) (local.get ${src}) (local.get ${sub})))`,
      `(local.set ${e} (i32x4.sub (i32x4.shr_u (local.get ${x}) (i32.const 23)) (i32x4.splat (i32.const 127))))`,
      `(local.set ${m} (v128.or (v128.and (local.get ${x}) (i32x4.splat (i32.const 0x007fffff))) (i32x4.splat (i32.const 0x3f800000))))`,
      `(local.set ${big} (f32x4.ge (local.get ${m}) ${splatConst(lane, Math.SQRT2)}))`,
      `(local.set ${m} (v128.bitselect (f32x4.mul (local.get ${m}) ${splatConst(lane, 0.5)}) (local.get ${m}) (local.get ${big})))`,
      `(local.set ${e} (i32x4.sub (local.get ${e}) (local.get ${big})))`,
      `(local.set ${e} (i32x4.sub (local.get ${e}) (v128.and (local.get ${sub}) (i32x4.splat (i32.const 24)))))`,
      `(local.set ${e} (f32x4.convert_i32x4_s (local.get ${e})))`,
      `(local.set ${s} (f32x4.div (f32x4.sub (local.get ${m}) ${splatConst(lane, 1)}) (f32x4.add (local.get ${m}) ${splatConst(lane, 1)})))`,
      `(local.set ${s2} (f32x4.mul (local.get ${s}) (local.get ${s})))`,
      `(local.set ${dst} (f32x4.add (f32x4.mul (local.get ${e}) ${splatConst(lane, Math.LN2)}) (f32x4.mul (local.get ${s}) ${horner(lane, terms, s2)})))`,
    );
  }
  // special values, in this order: x = 0 → −∞; x < 0 or NaN → NaN; x = +∞ → +∞
  const zero = splatConst(lane, 0);
  out.push(
    `(local.set ${dst} (v128.bitselect ${splatSpecial(lane, '-inf')} (local.get ${dst}) (${lane}.eq (local.get ${src}) ${zero})))`,
    `(local.set ${dst} (v128.bitselect ${splatSpecial(lane, 'nan')} (local.get ${dst}) (v128.not (${lane}.ge (local.get ${src}) ${zero}))))`,
    `(local.set ${dst} (v128.bitselect ${splatSpecial(lane, 'inf')} (local.get ${dst}) (${lane}.eq (local.get ${src}) ${splatSpecial(lane, 'inf')})))`,
  );
  return out;
}

/**
 * dst = sin(src) or cos(src). q = round(x·2/π) by the magic-number trick (its low bits give the
 * quadrant), r = x − q·π/2 with a three-part Cody–Waite split, then the odd/even Taylor polynomials
 * on |r| ≤ π/4 (to r^15/r^16 for float64, r^9/r^8 for float32), selected and signed per quadrant:
 * sin x = (s, c, −s, −c)[q mod 4], cos x = sin(x + π/2), i.e. the same table at q + 1.
 * The split is exact while |x| < SINCOS_FAST_LIMIT; a vector with a lane beyond it takes
 * `emitSinCosWide` (float32 lanes: in float64). Beyond 2^51 (4.5·10¹⁵) the result is NaN: q·π/2
 * can no longer be formed exactly, and an unbounded wrong value (1e115 for sin(1e25)) would pass
 * for a number.
 */
export function emitSinCos(lane: LaneType, which: 'sin' | 'cos', dst: string, src: string, locals: LocalAllocator): string[] {
  const L = lane;
  const f64 = lane === 'f64x2';
  const magic = f64 ? 6755399441055744 : 12582912;
  const split = f64
    ? [1.57079632673412561417e0, 6.07710050630396597660e-11, 2.02226624879595063154e-21]
    : [1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8];
  const t = locals.v128();
  const q = locals.v128();
  const r = locals.v128();
  const code = [
    `(local.set ${t} (${L}.add (${L}.mul (local.get ${src}) ${splatConst(L, 2 / Math.PI)}) ${splatConst(L, magic)}))`,
    `(local.set ${q} (${L}.sub (local.get ${t}) ${splatConst(L, magic)}))`,
    `(local.set ${r} (${L}.sub (${L}.sub (${L}.sub (local.get ${src}) (${L}.mul (local.get ${q}) ${splatConst(L, split[0]!)})) (${L}.mul (local.get ${q}) ${splatConst(L, split[1]!)})) (${L}.mul (local.get ${q}) ${splatConst(L, split[2]!)})))`,
    ...sinCosKernel(lane, which, dst, t, r, locals),
  ];
  const wide = f64 ? emitSinCosWide(which, dst, src, locals) : sinCosInFloat64(which, dst, src, locals);
  return [...code, `(if (v128.any_true (${L}.gt (${L}.abs (local.get ${src})) ${splatConst(L, SINCOS_FAST_LIMIT[lane])})) (then`, ...wide, '))'];
}

/** |x| from which the generated sin/cos give NaN (`emitSinCosWide`: q·π/2 no longer formed exactly). */
export const SINCOS_LIMIT = 2 ** 51;

/** |x| below which the three-part split of `emitSinCos` is exact (|q| < 2^20 for float64, 2^16 for float32). */
const SINCOS_FAST_LIMIT: Readonly<Record<LaneType, number>> = { f64x2: 2 ** 20, f32x4: 2 ** 16 };

/** π/2 in pieces of 26 significant bits (exact doubles): q·piece is exact for q of ≤ 27 bits. */
const PIO2_26 = [1.5707963109016418, 1.5893254712295857e-8, 6.123233932053594e-17, 6.368317055225283e-25, 1.0828566716053562e-32, 2.316557719485773e-41];

/**
 * sin/cos of float64 lanes for |x| < 2^51: q = round(x·2/π) split as q = qh + ql (Veltkamp, 26 bits each) so that
 * every product with a 26-bit piece of π/2 is exact, and the running remainder x − Σ is exact at each step (all
 * terms are multiples of the current piece's ulp and the remainder is small); the remainder is then accurate to
 * |q|·2^−160. The quadrant comes from q mod 4 (exact for |q| < 2^53). Lanes with |x| ≥ 2^51 (and ±∞) give NaN.
 */
function emitSinCosWide(which: 'sin' | 'cos', dst: string, src: string, locals: LocalAllocator): string[] {
  const L = 'f64x2';
  const q = locals.v128();
  const qh = locals.v128();
  const ql = locals.v128();
  const r = locals.v128();
  const t = locals.v128();
  const code = [
    `(local.set ${q} (f64x2.nearest (f64x2.mul (local.get ${src}) ${splatConst(L, 2 / Math.PI)})))`,
    `(local.set ${t} (f64x2.mul (local.get ${q}) ${splatConst(L, 134217729)}))`, // 2^27 + 1
    `(local.set ${qh} (f64x2.sub (local.get ${t}) (f64x2.sub (local.get ${t}) (local.get ${q}))))`,
    `(local.set ${ql} (f64x2.sub (local.get ${q}) (local.get ${qh})))`,
    `(local.set ${r} (local.get ${src}))`,
  ];
  for (const c of PIO2_26) {
    for (const part of [qh, ql]) code.push(`(local.set ${r} (f64x2.sub (local.get ${r}) (f64x2.mul (local.get ${part}) ${splatConst(L, c)})))`);
  }
  // q mod 4 in [0, 4), into the low bits of t by the magic number
  code.push(`(local.set ${t} (f64x2.add (f64x2.sub (local.get ${q}) (f64x2.mul (f64x2.floor (f64x2.mul (local.get ${q}) ${splatConst(L, 0.25)})) ${splatConst(L, 4)})) ${splatConst(L, 6755399441055744)}))`);
  code.push(...sinCosKernel(L, which, dst, t, r, locals));
  code.push(`(local.set ${dst} (v128.bitselect ${splatSpecial(L, 'nan')} (local.get ${dst}) (v128.not (f64x2.lt (f64x2.abs (local.get ${src})) ${splatConst(L, SINCOS_LIMIT)}))))`);
  return code;
}

/** sin/cos of float32 lanes beyond the float32 split's range: both halves in float64 by `emitSinCosWide`. */
function sinCosInFloat64(which: 'sin' | 'cos', dst: string, src: string, locals: LocalAllocator): string[] {
  const [lo, hi, dlo, dhi] = [locals.v128(), locals.v128(), locals.v128(), locals.v128()];
  return [
    `(local.set ${lo} (f64x2.promote_low_f32x4 (local.get ${src})))`,
    `(local.set ${hi} (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get ${src}) (local.get ${src}))))`,
    ...emitSinCosWide(which, dlo, lo, locals),
    ...emitSinCosWide(which, dhi, hi, locals),
    `(local.set ${dst} (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get ${dlo})) (f32x4.demote_f64x2_zero (local.get ${dhi}))))`,
  ];
}

/** The polynomials on the reduced r and the quadrant in the integer lanes of t (see `emitSinCos`). */
function sinCosKernel(lane: LaneType, which: 'sin' | 'cos', dst: string, t: string, r: string, locals: LocalAllocator): string[] {
  const L = lane;
  const f64 = lane === 'f64x2';
  const sinTerms = f64
    ? [-1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800, 1 / 6227020800, -1 / 1307674368000]
    : [-1 / 6, 1 / 120, -1 / 5040, 1 / 362880];
  const cosTerms = f64
    ? [-1 / 2, 1 / 24, -1 / 720, 1 / 40320, -1 / 3628800, 1 / 479001600, -1 / 87178291200, 1 / 20922789888000]
    : [-1 / 2, 1 / 24, -1 / 720, 1 / 40320];
  const int = f64 ? { and: 'v128.and', eq: 'i64x2.eq', add: 'i64x2.add', splat: (v: string) => `(i64x2.splat (i64.const ${v}))` }
    : { and: 'v128.and', eq: 'i32x4.eq', add: 'i32x4.add', splat: (v: string) => `(i32x4.splat (i32.const ${v}))` };
  const signBit = f64 ? '0x8000000000000000' : '0x80000000';
  const r2 = locals.v128();
  const sn = locals.v128();
  const cs = locals.v128();
  const quad = locals.v128();
  return [
    `(local.set ${r2} (${L}.mul (local.get ${r}) (local.get ${r})))`,
    `(local.set ${sn} (${L}.add (local.get ${r}) (${L}.mul (${L}.mul (local.get ${r}) (local.get ${r2})) ${horner(L, sinTerms, r2)})))`,
    `(local.set ${cs} (${L}.add ${splatConst(L, 1)} (${L}.mul (local.get ${r2}) ${horner(L, cosTerms, r2)})))`,
    // quadrant in the integer lanes of t (two's complement, so negative q works too)
    `(local.set ${quad} ${which === 'cos' ? `(${int.add} (local.get ${t}) ${int.splat('1')})` : `(local.get ${t})`})`,
    `(local.set ${dst} (v128.bitselect (local.get ${cs}) (local.get ${sn}) (${int.eq} (${int.and} (local.get ${quad}) ${int.splat('1')}) ${int.splat('1')})))`,
    `(local.set ${dst} (v128.xor (local.get ${dst}) (${int.and} (${int.eq} (${int.and} (local.get ${quad}) ${int.splat('2')}) ${int.splat('2')}) ${int.splat(signBit)})))`,
  ];
}

/**
 * dst = a^b for run-time exponents, as Math.pow: |a|^b = 2^(b·log₂|a|), then for a < 0 the sign
 * (−1)^b when b is an integer and NaN otherwise.
 */
export function emitPow(lane: LaneType, dst: string, a: string, b: string, locals: LocalAllocator): string[] {
  const L = lane;
  const absA = locals.v128();
  const lg = locals.v128();
  const mag = locals.v128();
  const half = locals.v128();
  const code = [
    `(local.set ${absA} (${L}.abs (local.get ${a})))`,
    ...emitLog(L, lg, absA, locals),
    `(local.set ${lg} (${L}.mul (local.get ${lg}) (local.get ${b})))`,
    ...emitExp(L, mag, lg, locals),
    `(local.set ${half} (${L}.mul (local.get ${b}) ${splatConst(L, 0.5)}))`,
    // a < 0: integer b → ±|a|^b (− when b is odd, i.e. b/2 is not an integer), else NaN
    `(local.set ${dst} (v128.bitselect
       (v128.bitselect
         (v128.bitselect (${L}.neg (local.get ${mag})) (local.get ${mag}) (${L}.ne (${L}.nearest (local.get ${half})) (local.get ${half})))
         ${splatSpecial(L, 'nan')}
         (${L}.eq (${L}.nearest (local.get ${b})) (local.get ${b})))
       (local.get ${mag})
       (${L}.lt (local.get ${a}) ${splatConst(L, 0)})))`,
  ];
  return code;
}

/**
 * dst = tanh(src). |x| < 0.17: e/(e + 2) with e = expm1(2x) from the exp polynomial without its
 * constant term (no cancellation near 0); otherwise 1 − 2/(e^{2x} + 1), which saturates to ±1.
 */
export function emitTanh(lane: LaneType, dst: string, src: string, locals: LocalAllocator): string[] {
  const L = lane;
  const poly = lane === 'f64x2' ? EXP_POLY_F64 : EXP_POLY_F32;
  const two = locals.v128();
  const em1 = locals.v128();
  const big = locals.v128();
  const ex = locals.v128();
  return [
    `(local.set ${two} (${L}.add (local.get ${src}) (local.get ${src})))`,
    // expm1(r) = r·(c₁ + c₂r + …), valid for |r| ≤ ln2/2 where the polynomial was fitted
    `(local.set ${em1} (${L}.mul (local.get ${two}) ${horner(L, poly.slice(1), two)}))`,
    `(local.set ${em1} (${L}.div (local.get ${em1}) (${L}.add (local.get ${em1}) ${splatConst(L, 2)})))`,
    ...emitExp(L, ex, two, locals),
    `(local.set ${big} (${L}.sub ${splatConst(L, 1)} (${L}.div ${splatConst(L, 2)} (${L}.add (local.get ${ex}) ${splatConst(L, 1)}))))`,
    `(local.set ${dst} (v128.bitselect (local.get ${em1}) (local.get ${big}) (${L}.lt (${L}.abs (local.get ${src})) ${splatConst(L, 0.17)})))`,
  ];
}

/** 1/k! for k = 1 … 14: Taylor coefficients of expm1 (|x| < EXPM1_TAYLOR_MAX: the k = 14 term is below 2⁻⁵⁶·|x|). */
const EXPM1_TAYLOR = Array.from({ length: 14 }, (_, k) => { let f = 1; for (let t = 2; t <= k + 1; t++) f *= t; return 1 / f; });
/** Below this |x|, expm1 is its Taylor series; above it, e^x − 1 loses at most a factor 1/(1 − e^−0.35) ≈ 3.4 in relative error. */
export const EXPM1_TAYLOR_MAX = 0.35;

/**
 * dst = expm1(src) = e^x − 1: x·(1 + x/2! + … ) (14 terms for float64, 8 for float32) for |x| < EXPM1_TAYLOR_MAX, no
 * cancellation near 0; e^x − 1 beyond, which saturates to −1 and +∞ as Math.expm1. NaN propagates.
 */
export function emitExpm1(lane: LaneType, dst: string, src: string, locals: LocalAllocator): string[] {
  const L = lane;
  const coeffs = EXPM1_TAYLOR.slice(0, lane === 'f64x2' ? 14 : 8);
  const small = locals.v128();
  const ex = locals.v128();
  return [
    `(local.set ${small} (${L}.mul (local.get ${src}) ${horner(L, coeffs, src)}))`,
    ...emitExp(L, ex, src, locals),
    `(local.set ${dst} (v128.bitselect (local.get ${small}) (${L}.sub (local.get ${ex}) ${splatConst(L, 1)}) (${L}.lt (${L}.abs (local.get ${src})) ${splatConst(L, EXPM1_TAYLOR_MAX)})))`,
  ];
}

/**
 * dst = log1p(src): with u = 1 + x, log(u)·x/(u − 1) (Goldberg: the rounding of u cancels between log(u) and u − 1),
 * x itself where u = 1, +∞ at x = +∞; log's special values otherwise (x = −1 → −∞, x < −1 or NaN → NaN).
 */
export function emitLog1p(lane: LaneType, dst: string, src: string, locals: LocalAllocator): string[] {
  const L = lane;
  const u = locals.v128();
  const d = locals.v128();
  const lg = locals.v128();
  return [
    `(local.set ${u} (${L}.add (local.get ${src}) ${splatConst(L, 1)}))`,
    `(local.set ${d} (${L}.sub (local.get ${u}) ${splatConst(L, 1)}))`,
    ...emitLog(L, lg, u, locals),
    `(local.set ${dst} (${L}.mul (local.get ${lg}) (${L}.div (local.get ${src}) (local.get ${d}))))`,
    `(local.set ${dst} (v128.bitselect (local.get ${src}) (local.get ${dst}) (${L}.eq (local.get ${d}) ${splatConst(L, 0)})))`,
    `(local.set ${dst} (v128.bitselect ${splatSpecial(L, 'inf')} (local.get ${dst}) (${L}.eq (local.get ${src}) ${splatSpecial(L, 'inf')})))`,
    // x = −1: log(0)·(−1/−1) is already −∞
  ];
}

/** dst = sin(x)/x, 1 at x = 0 (KeOps SinXDivX). */
export function emitSinXDivX(lane: LaneType, dst: string, src: string, locals: LocalAllocator): string[] {
  const L = lane;
  const sn = locals.v128();
  return [
    ...emitSinCos(L, 'sin', sn, src, locals),
    `(local.set ${dst} (v128.bitselect ${splatConst(L, 1)} (${L}.div (local.get ${sn}) (local.get ${src})) (${L}.eq (local.get ${src}) ${splatConst(L, 0)})))`,
  ];
}

/** tan(π/8) = √2 − 1: above it atan(t) = π/4 + atan((t − 1)/(t + 1)). */
const TAN_PI_8 = Math.SQRT2 - 1;
/** Odd series of atan on |t| ≤ tan(π/16) ≈ 0.199 (after one half-angle step): 12 terms reach 2⁻⁵⁶ (float64), 5 float32. */
const ATAN_TERMS_F64 = Array.from({ length: 12 }, (_, k) => (k % 2 === 0 ? 1 : -1) / (2 * k + 1));
const ATAN_TERMS_F32 = ATAN_TERMS_F64.slice(0, 5);

/**
 * dst = atan2(y, x) as Math.atan2. t = min(|x|, |y|)/max(|x|, |y|) ∈ [0, 1] (0 when both are 0, 1 when both are ∞);
 * above tan(π/8), t ← (t − 1)/(t + 1) and π/4 is added; one half-angle step t ← t/(1 + √(1 + t²)) (|t| ≤ 0.199)
 * before the odd series, doubled after. Then r = π/2 − r where |y| > |x|, r = π − r where x is negative (−0 included,
 * from its sign bit), and the sign of y (−0 included) is given to r. NaN in either gives NaN.
 */
export function emitAtan2(lane: LaneType, dst: string, y: string, x: string, locals: LocalAllocator): string[] {
  const L = lane;
  const f64 = lane === 'f64x2';
  const terms = f64 ? ATAN_TERMS_F64 : ATAN_TERMS_F32;
  const signMask = f64 ? '(i64x2.splat (i64.const 0x8000000000000000))' : '(i32x4.splat (i32.const 0x80000000))';
  const negOf = (v: string) => f64 ? `(i64x2.shr_s (local.get ${v}) (i32.const 63))` : `(i32x4.shr_s (local.get ${v}) (i32.const 31))`;
  const [ax, ay, lo, hi, t, big, h, h2, r, swap] = Array.from({ length: 10 }, () => locals.v128());
  const one = splatConst(L, 1);
  return [
    `(local.set ${ax} (${L}.abs (local.get ${x})))`,
    `(local.set ${ay} (${L}.abs (local.get ${y})))`,
    `(local.set ${lo} (${L}.min (local.get ${ax}) (local.get ${ay})))`,
    `(local.set ${hi} (${L}.max (local.get ${ax}) (local.get ${ay})))`,
    `(local.set ${t} (${L}.div (local.get ${lo}) (local.get ${hi})))`,
    `(local.set ${t} (v128.bitselect ${splatConst(L, 0)} (local.get ${t}) (${L}.eq (local.get ${hi}) ${splatConst(L, 0)})))`,
    `(local.set ${t} (v128.bitselect ${one} (local.get ${t}) (${L}.eq (local.get ${lo}) ${splatSpecial(L, 'inf')})))`,
    `(local.set ${big} (${L}.gt (local.get ${t}) ${splatConst(L, TAN_PI_8)}))`,
    `(local.set ${t} (v128.bitselect (${L}.div (${L}.sub (local.get ${t}) ${one}) (${L}.add (local.get ${t}) ${one})) (local.get ${t}) (local.get ${big})))`,
    `(local.set ${h} (${L}.div (local.get ${t}) (${L}.add ${one} (${L}.sqrt (${L}.add ${one} (${L}.mul (local.get ${t}) (local.get ${t})))))))`,
    `(local.set ${h2} (${L}.mul (local.get ${h}) (local.get ${h})))`,
    `(local.set ${r} (${L}.mul (${L}.add (local.get ${h}) (local.get ${h})) ${horner(L, terms, h2)}))`,
    `(local.set ${r} (v128.bitselect (${L}.add (local.get ${r}) ${splatConst(L, Math.PI / 4)}) (local.get ${r}) (local.get ${big})))`,
    `(local.set ${swap} (${L}.gt (local.get ${ay}) (local.get ${ax})))`,
    `(local.set ${r} (v128.bitselect (${L}.sub ${splatConst(L, Math.PI / 2)} (local.get ${r})) (local.get ${r}) (local.get ${swap})))`,
    `(local.set ${r} (v128.bitselect (${L}.sub ${splatConst(L, Math.PI)} (local.get ${r})) (local.get ${r}) ${negOf(x)}))`,
    `(local.set ${dst} (v128.or (local.get ${r}) (v128.and (local.get ${y}) ${signMask})))`,
  ];
}
