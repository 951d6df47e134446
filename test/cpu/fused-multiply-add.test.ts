/**
 * Fused multiply-adds in the formula programs' loop reductions (d ≥ 5; src/cpu/programs.ts `fusedMultiplyAdd`,
 * src/cpu/wasm-emit.ts): relaxed SIMD's `relaxed_madd`, enabled in Node 20's V8 by its flag, on unless
 * LAZYLINALG_FMA=0. The stored entries of sqnorm2(x − y) and x·y are checked against a double-double reference: the
 * fused programs' entries are at least as accurate as the two-rounding ones, and differ from them where the hardware
 * fuses `relaxed_madd` (x86 with FMA3, arm64: the machines measured here) — elsewhere they are the same bits, which is
 * asserted instead (`hardwareFuses` asks the instruction itself).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DenseKernelMatrix } from '../../src/cpu/dense-product.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { fusedMultiplyAdd } from '../../src/cpu/programs.js';
import { reductionProgram } from '../../src/cpu/reduce.js';
import { collectVariables, Vi, Vj } from '../../src/formula/index.js';
import { assembleWat } from '../../src/cpu/wat-assemble.js';
import { seededPoints } from '../random-data.js';

/**
 * Whether `f64x2.relaxed_madd` rounds once here: (1 + 2⁻²⁷)² − (1 + 2⁻²⁶) is 2⁻⁵⁴ exactly, which a rounded product loses.
 */
function hardwareFuses(): boolean {
  process.env['LAZYLINALG_FMA'] = '1';
  expect(fusedMultiplyAdd()).toBe(true); // and in Node 20 relaxed SIMD is enabled by it
  const text = `(module (func (export "f") (param $a f64) (param $c f64) (result f64)
    (f64x2.extract_lane 0 (f64x2.relaxed_madd (f64x2.splat (local.get $a)) (f64x2.splat (local.get $a)) (f64x2.splat (local.get $c))))))`;
  const f = new WebAssembly.Instance(new WebAssembly.Module(assembleWat(text) as Uint8Array<ArrayBuffer>)).exports['f'] as (a: number, c: number) => number;
  return f(1 + 2 ** -27, -(1 + 2 ** -26)) === 2 ** -54;
}

afterEach(() => {
  delete process.env['LAZYLINALG_FMA'];
});
afterAll(async () => {
  await shutdownCpuPool();
});

/** a + b exactly, as a double-double (Knuth's two-sum). */
function twoSum(a: number, b: number): [number, number] {
  const s = a + b;
  const v = s - a;
  return [s, (a - (s - v)) + (b - v)];
}

/** a·b exactly, as a double-double (Dekker's split). */
function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  const split = (x: number) => {
    const c = 134217729 * x; // 2^27 + 1
    const hi = c - (c - x);
    return [hi, x - hi] as const;
  };
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return [p, ((ah * bh - p) + ah * bl + al * bh) + al * bl];
}

/** Σ_k a_k·b_k in double-double, rounded once at the end. */
function exactDot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let hi = 0;
  let lo = 0;
  for (let k = 0; k < a.length; k++) {
    const [p, pe] = twoProduct(a[k]!, b[k]!);
    const [s, se] = twoSum(hi, p);
    hi = s;
    lo += se + pe;
  }
  return hi + lo;
}

const n = 200;
const d = 37; // looped (d > 4), and not a multiple of the lanes
const X = seededPoints(11, n, d, { lo: -3 });
const Y = seededPoints(12, n, d, { lo: -3 });

/** The stored n×n entries of a formula with LAZYLINALG_FMA set to `fma`. */
async function stored(which: 'sqnorm2' | 'dot', fma: '0' | '1'): Promise<Float64Array> {
  process.env['LAZYLINALG_FMA'] = fma;
  const f = which === 'sqnorm2' ? Vi(X).sub(Vj(Y)).sqnorm2() : Vi(X).dot(Vj(Y));
  const K = await DenseKernelMatrix.materialise(f.node, collectVariables(f.node), n, n, 'float64');
  const all = Array.from({ length: n }, (_, i) => i);
  const e = Float64Array.from(K.entries(all, all));
  await K.release();
  return e;
}

function reference(which: 'sqnorm2' | 'dot'): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const diff = X[i]!.map((v, k) => v - Y[j]![k]!); // rounded as the programs round it; the sum of squares is exact
      out[i * n + j] = which === 'sqnorm2' ? exactDot(diff, diff) : exactDot(X[i]!, Y[j]!);
    }
  }
  return out;
}

describe('fused multiply-adds in loop reductions', () => {
  it('Node 20 accepts relaxed SIMD once the flag is set; LAZYLINALG_FMA=0 turns them off, another value is an error naming it', () => {
    expect(fusedMultiplyAdd()).toBe(true);
    const f = Vi(X).sub(Vj(Y)).sqnorm2().neg().exp();
    const fused = reductionProgram(f.node, collectVariables(f.node), 'float64', 1);
    expect(fused.wat).toMatch(/f64x2\.relaxed_madd/);
    process.env['LAZYLINALG_FMA'] = '0';
    expect(fusedMultiplyAdd()).toBe(false);
    const plain = reductionProgram(f.node, collectVariables(f.node), 'float64', 1);
    expect(plain.wat).not.toMatch(/relaxed/);
    expect(plain.key).not.toBe(fused.key); // cached apart
    process.env['LAZYLINALG_FMA'] = 'yes';
    expect(() => fusedMultiplyAdd()).toThrow(/LAZYLINALG_FMA must be 0 \(off\) or 1 \(on, the default\), got 'yes'/);
  });

  for (const which of ['sqnorm2', 'dot'] as const) {
    it(`${which} at d = ${d}: the fused entries are at least as accurate as the two-rounding ones, and differ from them`, async () => {
      const want = reference(which);
      const fused = await stored(which, '1');
      const plain = await stored(which, '0');
      const error = (got: Float64Array) => {
        let sum = 0;
        let worst = 0;
        for (let t = 0; t < got.length; t++) {
          const e = Math.abs(got[t]! - want[t]!) / Math.max(Math.abs(want[t]!), 1e-300);
          sum += e;
          worst = Math.max(worst, e);
        }
        return { mean: sum / got.length, worst };
      };
      const ef = error(fused);
      const ep = error(plain);
      expect(ef.worst).toBeLessThan(which === 'dot' ? 1e-12 : 1e-14);
      expect(ep.worst).toBeLessThan(which === 'dot' ? 1e-12 : 1e-14);
      expect(ef.mean).toBeLessThanOrEqual(ep.mean);
      let differ = 0;
      for (let t = 0; t < fused.length; t++) if (fused[t] !== plain[t]) differ++;
      if (hardwareFuses()) expect(differ).toBeGreaterThan(fused.length / 10);
      else expect(differ).toBe(0); // relaxed_madd rounds twice here: the two programs compute the same bits
    });
  }
});
