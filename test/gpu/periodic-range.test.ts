/**
 * sin and cos past the generated code's accurate range, and NaN through min/max (formula-fuzz --gpu seed 25, cases
 * 28 and 270). WGSL's builtin sin/cos are specified on [−π, π] only: llvmpipe's cos of a float32 near 10¹² was off by
 * 1, returned as a product; the GPU now reduces the argument itself (Cody–Waite, as the WASM float32 code does) and
 * gives NaN past 2¹⁶, which the float32 product check refuses. WGSL's min/max returned the other operand of a NaN,
 * hiding it; they propagate it now, as the CPU and the JS twin do. And a min-family reduction, which skips NaN
 * values as numpy's nanmin does, refuses a row whose NaN came from sin/cos past the range (the JS twin has a value).
 * References: Math.sin / Math.cos in float64 on float32-representable inputs.
 */
import { describe, expect, it } from 'vitest';
import { Vi, Vj, kernelOperator, max, min } from '../../src/index.js';
import { hasGpu } from './gpu-env.js';

const f32 = (v: number) => Math.fround(v);

describe.runIf(hasGpu)('GPU sin and cos: accurate to 2^16, refused beyond', () => {
  it('cos(x) + 0.5·sin(x) for |x| up to 65,000 matches float64 Math.cos/Math.sin to float32 accuracy', async () => {
    const xs = Array.from({ length: 400 }, (_, i) => [f32((i % 2 ? -1 : 1) * (0.37 + i * 162.4591))]);
    const F = Vi(xs).cos().add(Vi(xs).sin().mul(Vj([[0.5]]).sum()));
    const K = kernelOperator(F, { backend: 'gpu', dtype: 'float32' });
    const got = await K.matvec([1]);
    let worst = 0;
    xs.forEach(([x], i) => { worst = Math.max(worst, Math.abs(got[i]! - (Math.cos(x!) + 0.5 * Math.sin(x!)))); });
    expect(worst).toBeLessThan(4e-6);
    K.dispose();
  });

  it('an argument past 2^16 is refused by name, never returned (before: cos of ≈ 1e12 off by 1)', async () => {
    const xs = [[0.5], [f32(8.906e11)], [2]];
    const K = kernelOperator(Vi(xs).cos().square().add(Vj([[0.25]]).sum()), { backend: 'gpu', dtype: 'float32' });
    await expect(K.matvec([1])).rejects.toThrow(/sin\/cos took an argument beyond ±65536/);
    K.dispose();
  });

  it('min and max propagate a NaN operand, as the CPU and the JS twin do (WGSL left it to the driver)', async () => {
    const xs = [[0.25], [0.75], [2]]; // log(x − 0.5) is NaN at the first row
    const lg = Vi(xs).sub(0.5).log();
    const s = Vj([[0.1], [0.2]]).sum();
    const F = min(lg, s).add(max(lg, s));
    const gpu = await kernelOperator(F, { backend: 'gpu', dtype: 'float32' }).matvec([1, 1]);
    const cpu = await kernelOperator(F, { backend: 'cpu' }).matvec([1, 1]);
    expect(Number.isNaN(gpu[0]!)).toBe(true);
    expect(Number.isNaN(cpu[0]!)).toBe(true);
    expect(Math.abs(gpu[1]! - cpu[1]!)).toBeLessThan(1e-5);
    expect(Math.abs(gpu[2]! - cpu[2]!)).toBeLessThan(1e-5);
  });
});

describe('min-family reductions of sin/cos past the generated code\'s range', () => {
  it('a row whose NaN comes from sin past 2^51 is refused, naming it (before: the min of the other entries)', async () => {
    // sin(x·y) with x·y = 1e16 (past 2^51) for the first column and 10 for the second: skipped, the NaN left sin(10)
    const F = Vi([[1e10], [1]]).mul(Vj([[1e6], [10]])).sin();
    await expect(F.min(1, { backend: 'cpu', dtype: 'float64' })).rejects.toThrow(/row 0 holds NaN values that the float64 JS evaluation does not/);
    // the second row's arguments are 1e6 and 10: right
    await expect(F.sum(1, { backend: 'cpu', dtype: 'float64' })).rejects.toThrow(/row 0 holds NaN values that the float64 JS evaluation does not/);
    await expect(F.logsumexp(1, undefined, { backend: 'cpu', dtype: 'float64' })).rejects.toThrow(/row 0 holds NaN values/);
    // a vector formula's sum, component by component: row 1's first component holds the NaN
    const V = Vi([[1, 1], [1e10, 2]]).mul(Vj([[1e6, 1], [10, 2]])).sin();
    await expect(V.sum(1, { backend: 'cpu', dtype: 'float64' })).rejects.toThrow(/row 1 holds NaN values/);
    const G = Vi([[1]]).mul(Vj([[1e6], [10]])).sin();
    const mn = (await G.min(1, { backend: 'cpu', dtype: 'float64' })) as Float64Array;
    expect(Math.abs(mn[0]! - Math.min(Math.sin(1e6), Math.sin(10)))).toBeLessThan(1e-12);
  });

  it.runIf(hasGpu)('the GPU\'s float32 past 2^16 likewise', async () => {
    const F = Vi([[f32(3e5)], [1]]).mul(Vj([[1], [f32(1e-3)]])).cos();
    await expect(F.min(1, { backend: 'gpu', dtype: 'float32' })).rejects.toThrow(/row 0 .*sin\/cos took an argument beyond ±65536/);
  });
});
