/**
 * Edge values of the KeOps element-wise operators (issue 19, item 2) on both backends — the CPU's WASM (float64 and
 * float32) and the GPU's WGSL (float32, the llvmpipe adapter in CI) — against the JS twin (Math.* in float64):
 * sinc(0) = 1, atan2 in every quadrant and on the axes, log1p/expm1 of tiny values and at their limits, ifelse
 * never reading the branch not taken, rsqrt(0) = 0; and clamp's bounds order refused where the formula is built.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Pm, Vi, Vj, type Formula } from '../../src/formula/builder.js';
import { collectVariables, rowCounts } from '../../src/formula/analyze.js';
import { evaluateDenseJs } from '../../src/formula/emit-js.js';
import { parseFormula } from '../../src/formula/parse.js';
import { reduceKernel } from '../../src/cpu/reduce.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { gpuReduceKernel } from '../../src/gpu/reduce.js';
import { hasGpu } from './gpu-env.js';

afterAll(async () => {
  await shutdownCpuPool();
});

type Backend = 'wasm float64' | 'wasm float32' | 'gpu float32';
const BACKENDS: Backend[] = ['wasm float64', 'wasm float32', ...(hasGpu ? ['gpu float32' as const] : [])];
const TOL: Record<Backend, number> = { 'wasm float64': 1e-14, 'wasm float32': 1e-6, 'gpu float32': 1e-6 };

/** Entry i of K for inputs a_i (and b_i): i-variables against one zero j point, times b = 1, so out_i = K_i0 exactly. */
async function entries(fOf: (a: Formula, b: Formula) => Formula, as: number[], bs: number[], backend: Backend) {
  const zero = Vj([[0]], 'z');
  const f = fOf(Vi(as.map((v) => [v]), 'a').sub(zero), Vi(bs.map((v) => [v]), 'b').sub(zero));
  const { n, m } = rowCounts(f.node);
  const cols = [Float64Array.of(1)];
  const got = backend === 'gpu float32'
    ? await gpuReduceKernel(f.node, collectVariables(f.node), n, m, cols)
    : await reduceKernel(f.node, collectVariables(f.node), n, m, cols, { dtype: backend === 'wasm float64' ? 'float64' : 'float32' });
  return { got: Array.from(got[0]!), want: Array.from(evaluateDenseJs(f.node)) };
}

function expectClose(got: number[], want: number[], tol: number, label: string, exact = false): void {
  got.forEach((g, i) => {
    const w = want[i]!;
    if (!Number.isFinite(w) || w === 0 || exact) expect(g, `${label} entry ${i}`).toBe(w);
    else expect(Math.abs(g - w) / Math.abs(w), `${label} entry ${i}: got ${g}, want ${w}`).toBeLessThanOrEqual(tol);
  });
}

describe.each(BACKENDS)('%s', (backend) => {
  const tol = TOL[backend];
  const f32 = backend !== 'wasm float64';

  it('sinc(0) = sinxdivx(0) = 1 exactly; sinc(±½) = 2/π', async () => {
    const { got } = await entries((a) => a.sinc(), [0, 0.5, -0.5], [0, 0, 0], backend);
    expect(got[0]).toBe(1);
    expectClose(got.slice(1), [2 / Math.PI, 2 / Math.PI], tol, 'sinc');
    const s = await entries((a) => a.sinxdivx(), [0, 1e-30, 3], [0, 0, 0], backend);
    expect(s.got[0]).toBe(1);
    expectClose(s.got.slice(1), [1, Math.sin(3) / 3], f32 ? 1e-6 : tol, 'sinxdivx');
  });

  it('atan2 in the four quadrants, on the axes and at the origin', async () => {
    const ys = [1, 1, -1, -1, 0, 0, 1, -1, 0, 3, -0.25, 1e-3];
    const xs = [1, -1, -1, 1, 1, -1, 0, 0, 0, 0.5, -7, 1e3];
    const { got, want } = await entries((a, b) => a.atan2(b), ys, xs, backend);
    expect(want.slice(0, 9)).toEqual([Math.PI / 4, 3 * Math.PI / 4, -3 * Math.PI / 4, -Math.PI / 4, 0, Math.PI, Math.PI / 2, -Math.PI / 2, 0]);
    expectClose(got, want, f32 ? 2e-7 : tol, 'atan2');
  });

  it('log1p and expm1 of tiny values keep their digits; their limits are Math.log1p / Math.expm1', async () => {
    const tiny = f32 ? [1e-30, -1e-20, 1e-7, -3e-5] : [1e-300, -1e-200, 1e-17, -3e-9];
    const l = await entries((a) => a.log1p(), [...tiny, -1, 1e6], tiny.map(() => 0).concat([0, 0]), backend);
    expectClose(l.got, l.want, tol, 'log1p');
    const e = await entries((a) => a.expm1(), [...tiny, -200, 0], tiny.map(() => 0).concat([0, 0]), backend);
    expectClose(e.got, e.want, tol, 'expm1');
    expect(e.got[tiny.length]).toBe(-1);
  });

  it('ifelse reads only the branch taken: an infinite or NaN other branch does not leak', async () => {
    // a ≥ 0 → log(b + 1), else 1/b: row 1 takes 1/0 = ∞ (kept), row 0 would give ∞ from the other branch (not read)
    const { got, want } = await entries((a, b) => a.ifelse(b.add(1).log(), b.inv()), [1, -1, 0, -2], [0, 0, 3, -0.5], backend);
    expect(want).toEqual([0, Infinity, Math.log(4), -2]);
    expectClose(got, want, tol, 'ifelse');
    const nan = await entries((a, b) => a.ifelse(b.sqrt(), b), [-1, 2], [-4, 4], backend); // sqrt(−4) = NaN not taken
    expectClose(nan.got, [-4, 2], tol, 'ifelse NaN branch');
  });

  it('rsqrt(0) = 0 (KeOps: the Coulomb self-interaction drops out), rsqrt(4) = ½', async () => {
    const { got } = await entries((a) => a.rsqrt(), [0, 4], [0, 0], backend);
    expect(got).toEqual([0, 0.5]);
  });

  it('clamp: inside, below and above', async () => {
    const { got } = await entries((a) => a.clamp(-0.5, 0.25), [0.125, -3, 3], [0, 0, 0], backend);
    expect(got).toEqual([0.125, -0.5, 0.25]);
  });
});

describe('formula-time checks of the new operators', () => {
  const x = Vi([[0], [1]], 'x');
  it('clamp refuses lo > hi when both are known (numbers or parameters), naming them', () => {
    expect(() => x.clamp(1, 0)).toThrow(/lower bound 1 is above upper bound 0/);
    expect(() => Vi([[0, 1]]).clamp(Pm([0, 2]), Pm([1, 1]))).toThrow(/lower bound 2 is above upper bound 1 \(component 1\)/);
    expect(() => x.clamp(Vj([[0]]), 1)).not.toThrow(); // bounds varying with j are not checked
    expect(() => parseFormula('clamp(x, 2, 1)', { x })).toThrow(/lower bound 2/);
  });

  it('the parser knows the mathjs names and the KeOps ones, with their arities', () => {
    const y = Vj([[0.5], [2]], 'y');
    const s = { x, y };
    const same = (src: string, f: Formula) => expect(Array.from(evaluateDenseJs(parseFormula(src, s).node))).toEqual(Array.from(evaluateDenseJs(f.node)));
    same('atan2(x, y)', x.atan2(y));
    same('log1p(x * y) + expm1(x - y)', x.mul(y).log1p().add(x.sub(y).expm1()));
    same('sinc(x - y) * sinxdivx(y)', x.sub(y).sinc().mul(y.sinxdivx()));
    same('ifelse(x - y, x, y)', x.sub(y).ifelse(x, y));
    same('weightedSqDist(x, y, 2)', x.weightedSqDist(y, 2));
    expect(() => parseFormula('clamp(x, 1)', s)).toThrow(/clamp takes 3 arguments but got 2/);
    expect(() => parseFormula('atan2(x)', s)).toThrow(/atan2 takes 2 arguments/);
  });

  it('weightedSqNorm refuses a full matrix of weights by name', () => {
    const v = Vi([[0, 1, 2]]);
    expect(() => v.weightedSqNorm(Pm([1, 2, 3, 4, 5, 6, 7, 8, 9]))).toThrow(/full 3×3 matrix of weights is not supported/);
  });

  it('formatNode output of the new operators parses back to the same formula', async () => {
    const { formatNode } = await import('../../src/formula/print.js');
    const y = Vj([[0.5], [2]], 'y');
    const f = x.sub(y).ifelse(x.atan2(y), y.log1p().expm1().sinxdivx());
    const back = parseFormula(formatNode(f.node), { x, y });
    expect(Array.from(evaluateDenseJs(back.node))).toEqual(Array.from(evaluateDenseJs(f.node)));
  });
});
