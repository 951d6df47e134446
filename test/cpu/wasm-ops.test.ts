/**
 * The WASM SIMD emitter (src/cpu/wasm-emit.ts + wasm-math.ts) against the JS twin
 * (src/formula/emit-js.ts), for both dtypes and every operator the emitter supports.
 *
 * Method: `reduceKernel` with unit right-hand sides e_j reads single entries K_ij (out_i =
 * K_ij·1 + Σ K_il·0, exact when the row is finite); random right-hand sides check the products.
 * The oracle is `evaluateDenseJs` (float64) followed by a plain-loop product. Per entry, the error
 * is |got − want| / Σ_j |K_ij b_j| (for a unit vector: the relative error of K_ij).
 *
 * Inputs are float32-representable (Math.fround) so the float32 program and the float64 oracle
 * see the same numbers; the float32 error then is the arithmetic's own.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { UNARY_OPS, type Node } from '../../src/formula/ast.js';
import { Formula, Pm, Vi, Vj, max, min } from '../../src/formula/builder.js';
import { collectVariables, rowCounts } from '../../src/formula/analyze.js';
import { evaluateDenseJs } from '../../src/formula/emit-js.js';
import { parseFormula } from '../../src/formula/parse.js';
import { reduceKernel } from '../../src/cpu/reduce.js';
import {
  emitReductionProgram, MAX_FUSED_COLUMNS, programKey, UnsupportedInWasm, type CpuDtype, type ReductionShape,
} from '../../src/cpu/wasm-emit.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { oracleProducts } from '../conformance.js';
import { seededVector, unitVector } from '../random-data.js';
import { F32_CANCEL, OPS, X, Y, floorFor, points } from '../op-table.js';

afterAll(async () => {
  await shutdownCpuPool();
});

const f32 = Math.fround;
const DTYPES: CpuDtype[] = ['float64', 'float32'];
const TOL: Record<CpuDtype, number> = { float64: 1e-13, float32: 5e-6 };

interface Mismatch { col: number; row: number; got: number; want: number; err: number }

/**
 * Runs `reduceKernel` on `cols` and compares with the oracle. Non-finite oracle values must be
 * matched exactly (NaN ↔ NaN, ±∞ ↔ ±∞). Returns the worst finite error and the mismatches.
 */
async function compare(f: Formula | Node, dtype: CpuDtype, cols: readonly Float64Array[], parallel = false, f32Floor = 0) {
  const node = f instanceof Formula ? f.node : f;
  const { n, m } = rowCounts(node);
  const got = await reduceKernel(node, collectVariables(node), n, m, cols, { dtype, parallel });
  const K = evaluateDenseJs(node);
  const want = oracleProducts(K, n, m, cols);
  let worst = 0;
  const bad: Mismatch[] = [];
  const tol = TOL[dtype];
  cols.forEach((b, c) => {
    // float32 only: entries that are sums of O(1) terms with cancellation are compared relative to
    // at least f32Floor·Σ|b_j| (the float32 rounding of the O(1) operands), see F32_CANCEL in test/op-table.ts
    let floor = 1e-300;
    if (dtype === 'float32' && f32Floor > 0) floor = f32Floor * b.reduce((acc, v) => acc + Math.abs(v), 0);
    for (let i = 0; i < n; i++) {
      const g = got[c]![i]!;
      const w = want[c]!.y[i]!;
      if (!Number.isFinite(w) || !Number.isFinite(want[c]!.scale[i]!)) {
        if (!(Object.is(g, w) || (g === w) || (Number.isNaN(g) && Number.isNaN(w)))) bad.push({ col: c, row: i, got: g, want: w, err: Infinity });
        continue;
      }
      const err = Math.abs(g - w) / Math.max(want[c]!.scale[i]!, floor);
      if (!(err <= tol)) bad.push({ col: c, row: i, got: g, want: w, err });
      if (err > worst || Number.isNaN(err)) worst = Number.isNaN(err) ? Infinity : err;
    }
  });
  return { worst, bad, got, K, n, m };
}

function expectClean(r: { worst: number; bad: Mismatch[] }, label: string): void {
  expect(r.bad.slice(0, 5), `${label}: ${r.bad.length} mismatching entries (worst finite error ${r.worst})`).toEqual([]);
}

/** K entries by unit vectors (scratch path: m columns, plus two random ones) and a fused block. */
async function checkFormula(f: Formula, dtype: CpuDtype, label: string, f32Floor = 0): Promise<number> {
  const { m } = rowCounts(f.node);
  const scratchCols = [...Array.from({ length: m }, (_, j) => unitVector(m, j)), seededVector(1, m), seededVector(2, m)];
  const a = await compare(f, dtype, scratchCols, false, f32Floor);
  expectClean(a, `${label} ${dtype} scratch`);
  const fusedCols = [unitVector(m, 0), unitVector(m, m - 1), seededVector(3, m)];
  const b = await compare(f, dtype, fusedCols, false, f32Floor);
  expectClean(b, `${label} ${dtype} fused(3)`);
  return Math.max(a.worst, b.worst);
}

// ------------------------------------------------------------------ the operator table (test/op-table.ts)

describe('WASM SIMD emitter vs the JS twin, every supported op', () => {
  const worst: Record<string, Record<CpuDtype, number>> = {};
  for (const [label, f] of OPS) {
    it(label, async () => {
      worst[label] = { float64: 0, float32: 0 };
      const floor = floorFor(label);
      for (const dtype of DTYPES) worst[label]![dtype] = await checkFormula(f, dtype, label, floor);
    });
  }
  it('reports the worst errors of exp/log/pow (informational)', () => {
    const rows = Object.entries(worst)
      .filter(([k]) => /exp|log|pow|tanh|sin|cos|Matérn/.test(k))
      .map(([k, v]) => `${k}: f64 ${v.float64.toExponential(2)}, f32 ${v.float32.toExponential(2)}`);
    // eslint-disable-next-line no-console
    console.log(rows.join('\n'));
    expect(rows.length).toBeGreaterThan(0);
  });
});

describe('dimensions, paths and sizes', () => {
  it.each([1, 2, 3, 7, 40])('Gaussian and dot in d = %i, odd m = 17', async (d) => {
    const x = Vi(points(200 + d, 9, d), 'x');
    const y = Vj(points(300 + d, 17, d), 'y');
    for (const dtype of DTYPES) {
      await checkFormula(x.sub(y).sqnorm2().mul(-0.4).exp(), dtype, `gauss d=${d}`);
      await checkFormula(x.dot(y), dtype, `dot d=${d}`, F32_CANCEL * Math.sqrt(d));
    }
  });

  it.each([1, 3, 17, 129])('m = %i (padding), k = 1, 3, 4 (fused) and 5, 8, 9, 14 (scratch: blocks of four columns and the rest one by one)', async (m) => {
    const x = Vi(points(400, 6, 2), 'x');
    const y = Vj(points(401 + m, m, 2), 'y');
    const f = x.sub(y).sqnorm2().add(1).log().add(x.dot(y));
    for (const dtype of DTYPES) {
      for (const k of [1, 3, MAX_FUSED_COLUMNS, 5, 8, 9, 14]) {
        const cols = Array.from({ length: k }, (_, c) => (c < m && c % 2 === 0 ? unitVector(m, c) : seededVector(500 + c, m)));
        expectClean(await compare(f, dtype, cols, false, F32_CANCEL), `m=${m} k=${k} ${dtype}`);
      }
    }
  });

  it('the worker pool gives the same products as the serial path (n = 700, m = 500)', async () => {
    const x = Vi(points(600, 700, 3, 0, 1), 'x');
    const y = Vj(points(601, 500, 3, 0, 1), 'y');
    const f = x.sub(y).sqnorm2().div(Pm(0.02, 'two_s2')).neg().exp();
    const cols = [seededVector(7, 500), seededVector(8, 500), seededVector(9, 500), seededVector(10, 500), seededVector(11, 500)];
    for (const dtype of DTYPES) {
      for (const k of [1, 5]) {
        const par = await compare(f, dtype, cols.slice(0, k), true);
        expectClean(par, `pool ${dtype} k=${k}`);
        const ser = await reduceKernel(f.node, collectVariables(f.node), 700, 500, cols.slice(0, k), { dtype, parallel: false });
        // rows are split between workers, not columns: each row is summed in the same order
        for (let c = 0; c < k; c++) expect(Array.from(par.got[c]!)).toEqual(Array.from(ser[c]!));
      }
    }
  });

  it('several i and j variables of different dimensions', async () => {
    const a = Vi(points(700, 5, 2), 'a');
    const b = Vi(points(701, 5, 4), 'b');
    const c = Vj(points(702, 19, 2), 'c');
    const e = Vj(points(703, 19, 4), 'e');
    const f = a.sub(c).sqnorm2().neg().exp().mul(b.dot(e)).add(b.sub(e).abs().sum().sqrt());
    for (const dtype of DTYPES) await checkFormula(f, dtype, 'multi-variable', F32_CANCEL);
  });

  it('string formulas compile the same as builder formulas', async () => {
    const f = parseFormula('exp(-sqnorm2(x - y) / (2 * s^2)) * (1 + dot(x, y))', { x: X, y: Y, s: f32(0.6) });
    for (const dtype of DTYPES) await checkFormula(f, dtype, 'parsed', F32_CANCEL);
  });
});

// ------------------------------------------------------------------ special values

/**
 * Special inputs t_i of a 1-D i-variable against a j-variable of zeros, m a multiple of the
 * lane·unroll step (no padding), b = 1/m: out_i = K(t_i) exactly for finite K, ±∞/NaN survive.
 */
async function special(fOf: (t: Formula) => Formula, ts: number[], dtype: CpuDtype) {
  const m = 32;
  const t = Vi(ts.map((v) => [v]), 't').sub(Vj(Array.from({ length: m }, () => [0]), 'z'));
  const f = fOf(t);
  const { got, K, n } = await compare(f, dtype, [Float64Array.from({ length: m }, () => 1 / m)]);
  const want = Array.from({ length: n }, (_, i) => K[i * m]!);
  return { got: Array.from(got[0]!), want };
}

function sameSpecial(got: number[], want: number[], tol: number, label: string): void {
  got.forEach((g, i) => {
    const w = want[i]!;
    if (w === 0) {
      expect(g === 0, `${label} entry ${i}: got ${g}, want 0`).toBe(true);
    } else if (!Number.isFinite(w)) {
      expect(g, `${label} entry ${i}: want ${w}`).toBe(w); // Object.is: NaN matches NaN
    } else {
      expect(Math.abs(g - w) / Math.abs(w), `${label} entry ${i}: got ${g}, want ${w}`).toBeLessThanOrEqual(tol);
    }
  });
}

describe('special values', () => {
  for (const dtype of DTYPES) {
    const tol = TOL[dtype];
    it(`${dtype}: exp of 0 is exactly 1, large negative → 0 (no NaN), huge positive → +∞`, async () => {
      const big = dtype === 'float64' ? [0, -1000, -800, -1e30, 1000, 800, 1e30, 700, 709] : [0, -200, -104, -1e30, 200, 100, 1e30, 80, 88];
      const { got, want } = await special((t) => t.exp(), big, dtype);
      expect(got[0]).toBe(1);
      // the oracle in the product's precision (float32 overflows at 88.72 and underflows sooner)
      const wantD = want.map((v) => (dtype === 'float32' ? f32(v) : v));
      sameSpecial(got, wantD, tol, `exp ${dtype}`);
      for (const g of got) expect(Number.isNaN(g)).toBe(false);
    });

    it(`${dtype}: exp underflow flushes results below the smallest normal to 0 (documented FTZ)`, async () => {
      const ts = dtype === 'float64' ? [-709, -720, -745, -708] : [-88, -90, -103, -87];
      const { got, want } = await special((t) => t.exp(), ts, dtype);
      const tiny = dtype === 'float64' ? 2.2250738585072014e-308 : 1.1754943508222875e-38;
      got.forEach((g, i) => {
        const w = dtype === 'float32' ? f32(want[i]!) : want[i]!;
        expect(g >= 0 && Math.abs(g - w) <= Math.max(tol * w, tiny), `exp(${ts[i]}): got ${g}, want ${w}`).toBe(true);
      });
    });

    it(`${dtype}: log of 0 → −∞, negative → NaN, +∞ → +∞, subnormal inputs, NaN → NaN`, async () => {
      const sub = dtype === 'float64' ? [5e-324, 1e-310, 2.2e-308] : [f32(1e-45), f32(1e-40), f32(1.1e-38)];
      const ts = [0, -1, -1e-30, 1, 2, 1e30, ...sub];
      const { got, want } = await special((t) => t.log(), ts, dtype);
      expect(got.slice(0, 3)).toEqual([-Infinity, NaN, NaN]);
      expect(got[3]).toBe(0);
      sameSpecial(got, want, tol, `log ${dtype}`);
      // log(exp(huge)) = log(+∞) = +∞; log(log(−1)) = NaN
      const inf = await special((t) => t.exp().log(), [dtype === 'float64' ? 1000 : 200], dtype);
      expect(inf.got).toEqual([Infinity]);
      const nan = await special((t) => t.log().log(), [-1], dtype);
      expect(nan.got[0]).toBeNaN();
    });

    it(`${dtype}: pow(0, 0.5) = 0, pow(0, 2.5) = 0, pow(0, 0.37) = 0, pow(0, 0) = 1, negative base of a half power → NaN`, async () => {
      for (const e of [0.5, 2.5, 0.37, 3]) {
        const { got } = await special((t) => t.pow(e), [0], dtype);
        expect(got, `pow(0, ${e})`).toEqual([0]);
      }
      expect((await special((t) => t.pow(0), [0, -2, 3], dtype)).got).toEqual([1, 1, 1]);
      for (const e of [0.5, 1.5, 0.37]) {
        const { got } = await special((t) => t.pow(e), [-2], dtype);
        expect(got[0], `pow(-2, ${e})`).toBeNaN();
      }
      const neg = await special((t) => t.pow(-2), [0, -0.5], dtype);
      expect(neg.got).toEqual([Infinity, 4]);
    });

    it(`${dtype}: negative half-integer powers of 0 are +∞ and of +∞ are 0, as Math.pow`, async () => {
      // regression: x^⌊e⌋·√x gave ∞·0 = NaN at x = 0 (now 1/x^|e|)
      for (const e of [-0.5, -1.5, -2.5]) {
        expect((await special((t) => t.pow(e), [0], dtype)).got, `pow(0, ${e})`).toEqual([Infinity]);
        expect((await special((t) => t.exp().pow(e), [dtype === 'float64' ? 1000 : 200], dtype)).got, `pow(∞, ${e})`).toEqual([0]);
      }
    });

    it(`${dtype}: sign and step of 0, negatives and positives; relu; abs`, async () => {
      const ts = [0, -0, -2, 3, -1e-30, 0.25];
      const sign = await special((t) => t.sign(), ts, dtype);
      expect(sign.got.map((v) => v + 0)).toEqual([0, 0, -1, 1, -1, 1]);
      const step = await special((t) => t.step(), ts, dtype);
      expect(step.got).toEqual([1, 1, 0, 1, 0, 1]);
      const relu = await special((t) => t.relu(), ts, dtype);
      expect(relu.got.map((v) => v + 0)).toEqual([0, 0, 0, 3, 0, 0.25]);
    });

    it(`${dtype}: NaN propagates where the oracle gives NaN (log(x − y) with x < y, sqrt of negatives)`, async () => {
      const cases: [string, (t: Formula) => Formula][] = [
        ['log', (t) => t.log()],
        ['sqrt', (t) => t.sqrt()],
        ['rsqrt', (t) => t.rsqrt()],
        ['exp(log)', (t) => t.log().exp()],
        ['tanh(log)', (t) => t.log().tanh()],
        ['sign(log)', (t) => t.log().sign()],
        ['relu(log)', (t) => t.log().relu()],
        ['abs(log)', (t) => t.log().abs()],
        ['min(log, 1)', (t) => min(t.log(), 1)],
        ['max(log, 1)', (t) => max(t.log(), 1)],
        ['pow(log, 2)', (t) => t.log().pow(2)],
        ['pow(log, 0.37)', (t) => t.log().pow(0.37)],
        ['log * 0', (t) => t.log().mul(0)],
        ['inv(log)', (t) => t.log().inv()],
      ];
      for (const [label, fOf] of cases) {
        const { got, want } = await special(fOf, [-1, -3, 2], dtype);
        expect(want[0], `oracle ${label}`).toBeNaN();
        expect(got[0], `${label}(-1)`).toBeNaN();
        expect(got[1], `${label}(-3)`).toBeNaN();
        sameSpecial(got.slice(2), want.slice(2), tol, label);
      }
      // a NaN entry in a row makes that row's product NaN; other rows are unaffected
      const x = Vi([[0], [5]], 'x');
      const y = Vj([[1], [2], [3], [4]], 'y');
      const r = await compare(x.sub(y).log(), dtype, [Float64Array.of(1, 1, 1, 1)]);
      expect(r.got[0]![0]).toBeNaN();
      expect(Math.abs(r.got[0]![1]! - Math.log(24)) / Math.log(24)).toBeLessThanOrEqual(tol);
    });

    it(`${dtype}: step(NaN) is 0, as the JS twin and scalar-ops define it`, async () => {
      const { got, want } = await special((t) => t.log().step(), [-1, 1, 0.5], dtype);
      expect(want).toEqual([0, 1, 0]);
      expect(got).toEqual([0, 1, 0]);
    });

    it(`${dtype}: division by a zero parameter gives ±∞/NaN as a true division`, async () => {
      const z = Pm(0, 'zero');
      const { got, want } = await special((t) => t.div(z), [2, -3, 0], dtype);
      expect(want.slice(0, 2)).toEqual([Infinity, -Infinity]);
      expect(got.slice(0, 2)).toEqual([Infinity, -Infinity]);
      expect(got[2]).toBeNaN();
    });
  }
});

// ------------------------------------------------------------------ known gaps (failing on purpose)

describe('regressions: bugs found by this suite, fixed', () => {
  // exp(x) for x in [ln(2)·1023.5, ln(max)] ≈ [709.44, 709.78] is finite (≈ 1.3e308) but k = 1024 makes
  // 2^k overflow before the polynomial (< 1) could bring it back; float32 likewise for x in [88.38, 88.72].
  for (const dtype of DTYPES) {
    it(`${dtype}: exp just below the overflow threshold is finite`, async () => {
      const t = dtype === 'float64' ? 709.5 : 88.5;
      const { got, want } = await special((v) => v.exp(), [t], dtype);
      expect(Number.isFinite(want[0]!)).toBe(true);
      expect(Math.abs(got[0]! - want[0]!) / want[0]!).toBeLessThanOrEqual(TOL[dtype]);
    });
  }

  // Padding j up to the lane·unroll step repeats the last point with rhs 0; when K(x_i, y_last) is
  // ±∞ the padded lanes contribute ∞·0 = NaN, so a product that should be ±∞ comes back NaN.
  it('float64: an infinite entry in the last column with m not a multiple of the step stays +∞', async () => {
    const x = Vi([[1], [2]], 'x');
    const y = Vj([[0.5], [1]], 'y'); // K(x_0, y_1) = 1/|1 − 1| = +∞, m = 2 (padded to 16)
    const f = x.sub(y).abs().inv();
    const r = await compare(f, 'float64', [Float64Array.of(0, 1)]);
    expect(r.got[0]![0]).toBe(Infinity);
  });

  // pow with a non-constant exponent is exp(b·log a): NaN for every negative base, although
  // Math.pow (the JS twin) is finite when b is an integer — e.g. '(dot(x, y) + c)^deg' with deg
  // from the scope (a parameter) gives NaN wherever dot(x, y) + c < 0.
  for (const dtype of DTYPES) {
    it(`${dtype}: pow(negative, integer-valued parameter) as Math.pow`, async () => {
      const deg = Pm(3, 'deg');
      const { got, want } = await special((t) => t.pow(deg), [-2, 1.5], dtype);
      expect(want).toEqual([-8, 3.375]);
      // exp·log is accurate to a few ulps, not exact: the bug was NaN for the negative base
      got.forEach((g, i) => expect(Math.abs(g - want[i]!) / Math.abs(want[i]!)).toBeLessThanOrEqual(TOL[dtype]));
    });
  }

  // constant exponents above 64 take the exp·log path: NaN for negative bases where Math.pow is finite
  it('float64: pow(negative, 70) as Math.pow', async () => {
    const { got, want } = await special((t) => t.pow(70), [-1.01], 'float64');
    expect(Math.abs(got[0]! - want[0]!) / want[0]!).toBeLessThanOrEqual(1e-13);
  });

});

// tanh a = 1 − 2/(e^{2a} + 1) cancels for small |a| (relative error ≈ ε/|a|: float64 1.6e-11 at
// a = 1e-5, float32 1.3e-5 at a = 1e-3); small |a| now go through expm1.
describe('regression: tanh near 0 keeps its relative accuracy', () => {
  for (const [dtype, a] of [['float64', 1e-5], ['float32', 1e-3]] as const) {
    it(`${dtype}: tanh(${a}) to the per-entry tolerance`, async () => {
      const { got, want } = await special((t) => t.tanh(), [a, -a], dtype);
      for (let i = 0; i < 2; i++) expect(Math.abs(got[i]! - want[i]!) / Math.abs(want[i]!)).toBeLessThanOrEqual(TOL[dtype]);
    });
  }
});

describe('every formula function compiles to WASM', () => {
  it('no unary operator raises UnsupportedInWasm (sin/cos included since the SIMD sin/cos)', () => {
    for (const op of UNARY_OPS) {
      const f = X.sub(Y).sqnorm2().add(0.5)[op]();
      for (const dtype of DTYPES) {
        // the text is emitted at its first reading
        expect(() => emitReductionProgram(f.node, collectVariables(f.node), { dtype, columns: 1, layout: 'full' }).wat, `${op} ${dtype}`).not.toThrow();
      }
    }
    expect(new UnsupportedInWasm('x')).toBeInstanceOf(Error);
  });

  for (const dtype of DTYPES) {
    it(`${dtype}: sin/cos special values: sin 0 = 0, cos 0 = 1, NaN → NaN, large arguments`, async () => {
      const ts = [0, Math.fround(Math.PI), -Math.fround(Math.PI / 2), 1000, -12345.5];
      const sin = await special((t) => t.sin(), ts, dtype);
      const cos = await special((t) => t.cos(), ts, dtype);
      expect(sin.got[0]).toBe(0);
      expect(cos.got[0]).toBe(1);
      sameSpecial(sin.got, sin.want, TOL[dtype], `sin ${dtype}`);
      sameSpecial(cos.got, cos.want, TOL[dtype], `cos ${dtype}`);
      expect((await special((t) => t.log().sin(), [-1], dtype)).got[0]).toBeNaN();
      expect((await special((t) => t.log().cos(), [-1], dtype)).got[0]).toBeNaN();
    });
  }
});

// ------------------------------------------------------------------ structure of the emitted text

/** Count of exp expansions: every 2^u expansion shifts t into the exponent field once. */
function countExp(wat: string): number {
  return (wat.match(/(i64x2\.shl \(local\.get \$v\d+\) \(i32\.const 52\))|(i32x4\.shl \(local\.get \$v\d+\) \(i32\.const 23\))/g) ?? []).length;
}
/** Count of log expansions: every emitLog splats −∞ once (for log 0). */
function countLog(wat: string): number {
  return wat.split('const -inf').length - 1;
}

describe('emitted WAT', () => {
  const evilX = Vi(points(900, 4, 3), 'evil_name_xyz');
  const evilY = Vj(points(901, 5, 3), 'evil_name_abc');
  const evilP = Pm([1, 2, 3], 'evil_param_qqq');
  const evilS = Pm(0.3, 'evil_sigma_www');

  it('the key is derived from the shape: every valid shape its own key, equal keys only for equal programs', () => {
    const f = evilX.sub(evilY).sqnorm2().div(evilS).neg().exp();
    const shapes: ReductionShape[] = [];
    for (const dtype of DTYPES) {
      for (const columns of [1, 2, 3, 4, 'scratch', 'dense', 'dense-f32', 'kmin'] as const) {
        if (columns === 'dense-f32' && dtype !== 'float64') continue;
        shapes.push({ dtype, columns, layout: 'full' });
        if (typeof columns === 'number' || columns === 'scratch') shapes.push({ dtype, columns, layout: 'mirrored' });
        if ((columns === 'dense' || columns === 'dense-f32') && dtype === 'float64') shapes.push({ dtype, columns, layout: 'packed' });
      }
    }
    const programs = shapes.map((shape) => emitReductionProgram(f.node, collectVariables(f.node), shape));
    expect(new Set(programs.map((p) => p.key)).size).toBe(shapes.length);
    expect(new Set(programs.map((p) => p.wat)).size).toBe(shapes.length);
    programs.forEach((p, i) => {
      expect(p.key).toBe(programKey(shapes[i]!, p.key.split('|').slice(4).join('|')));
      expect(p.layout).toBe(shapes[i]!.layout);
      // the same shape again: the same key and text
      const again = emitReductionProgram(f.node, collectVariables(f.node), { ...shapes[i]! });
      expect([again.key, again.wat]).toEqual([p.key, p.wat]);
    });
    // another formula, the same shape: another key
    const g = evilX.sub(evilY).sqnorm2().div(evilS).neg().exp().mul(2);
    expect(emitReductionProgram(g.node, collectVariables(g.node), shapes[0]!).key).not.toBe(programs[0]!.key);
    // shapes no program has are refused
    expect(() => emitReductionProgram(f.node, collectVariables(f.node), { dtype: 'float64', columns: 'dense', layout: 'mirrored' })).toThrow(/mirrored layout/);
    expect(() => emitReductionProgram(f.node, collectVariables(f.node), { dtype: 'float32', columns: 'dense', layout: 'packed' })).toThrow(/packed storage/);
    expect(() => emitReductionProgram(f.node, collectVariables(f.node), { dtype: 'float64', columns: 2, layout: 'packed' })).toThrow(/packed storage/);
  });

  it('never contains a user-chosen variable or parameter name', () => {
    const f = evilX.sub(evilY).mul(evilP).sqnorm2().div(evilS).neg().exp();
    for (const dtype of DTYPES) {
      for (const mode of [1, 4, 'scratch'] as const) {
        const p = emitReductionProgram(f.node, collectVariables(f.node), { dtype, columns: mode, layout: 'full' });
        expect(p.wat).not.toMatch(/evil/);
        expect(p.key).not.toMatch(/evil/);
      }
    }
    const parsed = parseFormula('exp(-sqnorm2(evil_a - evil_b) / evil_c)', { evil_a: evilX, evil_b: evilY, evil_c: 0.5 });
    expect(emitReductionProgram(parsed.node, collectVariables(parsed.node), { dtype: 'float64', columns: 2, layout: 'full' }).wat).not.toMatch(/evil/);
  });

  it('identical subtrees are computed once (structural CSE)', () => {
    for (const dtype of DTYPES) {
      const base = (f: Formula) => emitReductionProgram(f.node, collectVariables(f.node), { dtype, columns: 1, layout: 'full' });
      const one = base(evilX.sub(evilY).sqnorm2().neg().exp());
      // one expansion per unroll unit, and the inner body is emitted twice: the j loop and the
      // masked last lane group
      const U = 2 * one.unroll;
      expect(countExp(one.wat)).toBe(U);
      // the same subtree built twice (distinct node objects): still one exp
      const twice = base(evilX.sub(evilY).sqnorm2().neg().exp().add(evilX.sub(evilY).sqnorm2().neg().exp()));
      expect(countExp(twice.wat)).toBe(U);
      // Matérn 3/2 and 5/2 (as in maternKernel): one exp, one sqrt of r²
      for (const nu of [1.5, 2.5]) {
        const rr = evilX.sub(evilY).sqnorm2();
        const t = rr.sqrt().mul(Math.sqrt(nu === 1.5 ? 3 : 5)).div(evilS);
        const poly = nu === 1.5 ? t.add(1) : t.add(1).add(rr.mul(5 / 3).div(evilS.square()));
        const p = base(poly.mul(t.neg().exp()));
        expect(countExp(p.wat), `Matérn ${nu}`).toBe(U);
        expect(p.wat.split(`${p.lane}.sqrt`).length - 1, `Matérn ${nu} sqrt`).toBe(U);
      }
      // two different exps stay two; a log is one log
      const two = base(evilX.sub(evilY).sqnorm2().neg().exp().add(evilX.dot(evilY).exp()));
      expect(countExp(two.wat)).toBe(2 * U);
      const lg = base(evilX.sub(evilY).sqnorm2().add(1).log().mul(evilX.sub(evilY).sqnorm2().add(1).log()));
      expect(countLog(lg.wat)).toBe(U);
    }
  });

  it('parameter-only and x_i-only subtrees are hoisted out of the j loop', () => {
    // exp(σ) depends only on a parameter: computed once per call, not once per unroll unit
    const f = evilX.sub(evilY).sqnorm2().mul(evilS.exp());
    const p = emitReductionProgram(f.node, collectVariables(f.node), { dtype: 'float64', columns: 1, layout: 'full' });
    expect(countExp(p.wat)).toBe(1);
    // exp(sum(x_i)) is row-invariant: once per row
    const g = evilX.sum().exp().mul(evilX.dot(evilY));
    expect(countExp(emitReductionProgram(g.node, collectVariables(g.node), { dtype: 'float64', columns: 1, layout: 'full' }).wat)).toBe(1);
  });
});
