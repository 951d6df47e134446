import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { Vi, Vj } from '../../src/formula/builder.js';
import { differentiableParameters, parameterDerivativeOperator, pointDerivativeOperators } from '../../src/autodiff/kernel-derivatives.js';
import { gaussianKernel, kernelOperator, laplacianKernel, maternKernel, polynomialKernel } from '../../src/operators/kernels.js';
import type { KernelOperator } from '../../src/operators/kernel-operator.js';
import { seededPoints, seededVector } from '../random-data.js';

const n = 40;
const x = seededPoints(1, n, 3);
const y = seededPoints(2, 30, 3);

function maxRel(a: Matrix, b: Matrix): number {
  let e = 0;
  let scale = 0;
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.columns; j++) {
    e = Math.max(e, Math.abs(a.get(i, j) - b.get(i, j)));
    scale = Math.max(scale, Math.abs(b.get(i, j)));
  }
  return e / scale;
}

/** (K(θ + h) − K(θ − h)) / 2h, dense. */
async function centralDense(make: (theta: number) => KernelOperator, theta: number, h: number): Promise<Matrix> {
  const up = await make(theta + h).toDense();
  const down = await make(theta - h).toDense();
  return up.sub(down).div(2 * h);
}

describe('parameterDerivativeOperator (∂K/∂θ as a kernel operator)', () => {
  const cases: Array<[string, (s: number) => KernelOperator]> = [
    ['gaussian', (s) => gaussianKernel(x, { sigma: s })],
    ['matern 2.5', (s) => maternKernel(x, { sigma: s, nu: 2.5 })],
    ['laplacian, y ≠ x', (s) => laplacianKernel(x, { y, sigma: s })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: ∂K/∂σ matches central differences of K (float64 CPU), densely and as a product`, async () => {
      const sigma = 0.7;
      const D = parameterDerivativeOperator(make(sigma), 'sigma');
      const fd = await centralDense(make, sigma, 1e-5);
      expect(maxRel(await D.toDense(), fd)).toBeLessThan(1e-8);
      const v = seededVector(3, D.shape[1]);
      const Dv = await D.matvec(v);
      const ref = fd.mmul(Matrix.columnVector(Array.from(v))).getColumn(0);
      const err = Math.max(...ref.map((r, i) => Math.abs(r - Dv[i]!))) / Math.max(...ref.map(Math.abs));
      expect(err).toBeLessThan(1e-8);
      expect(D.symmetric).toBe(make(sigma).symmetric);
    });
  }

  it('a string formula: ∂K/∂s and ∂K/∂c of its numbers (Pm), and a polynomial kernel\'s gamma', async () => {
    const formula = 'exp(-sqnorm2(x - y) / (2 * s^2)) + c * dot(x, y)';
    const make = (s: number, c: number) => kernelOperator(formula, { x: Vi(x), y: Vj(x), s, c });
    expect(differentiableParameters(make(0.5, 0.2)).sort()).toEqual(['c', 's']);
    const Ds = await parameterDerivativeOperator(make(0.5, 0.2), 's').toDense();
    expect(maxRel(Ds, await centralDense((s) => make(s, 0.2), 0.5, 1e-5))).toBeLessThan(1e-8);
    const Dc = await parameterDerivativeOperator(make(0.5, 0.2), 'c').toDense();
    expect(maxRel(Dc, await centralDense((c) => make(0.5, c), 0.2, 1e-5))).toBeLessThan(1e-8);
    const poly = (g: number) => polynomialKernel(x, { gamma: g, coef0: 1, degree: 3 });
    const Dg = await parameterDerivativeOperator(poly(0.4), 'gamma').toDense();
    expect(maxRel(Dg, await centralDense(poly, 0.4, 1e-5))).toBeLessThan(1e-8);
  });

  it('a parameter whose derivative is constant still gives an operator of K\'s shape', async () => {
    const K = kernelOperator('dot(x, y) + c', { x: Vi(x), y: Vj(y), c: 2 });
    const D = await parameterDerivativeOperator(K, 'c').toDense();
    expect([D.rows, D.columns]).toEqual([n, 30]);
    expect(D.max()).toBe(1);
    expect(D.min()).toBe(1);
  });

  it('runs on the kernel\'s backend and dtype', () => {
    const K = gaussianKernel(x, { sigma: 0.5, dtype: 'float32', backend: 'cpu' });
    const D = parameterDerivativeOperator(K, 'sigma');
    expect(D.dtype).toBe('float32');
    expect(String(D)).toMatch(/float32 cpu/);
  });

  it('point derivatives: ∂K_ij/∂x_k in the points\' own coordinates (1/σ included)', async () => {
    const sigma = 0.6;
    const ops = pointDerivativeOperators(gaussianKernel(x, { y, sigma }), 'i');
    expect(ops).toHaveLength(3);
    const D1 = await ops[1]!.toDense();
    const h = 1e-6;
    const shifted = (dx: number) => gaussianKernel(x.map((p, i) => (i === 4 ? [p[0]!, p[1]! + dx, p[2]!] : p)), { y, sigma }).toDense();
    const row = (await shifted(h)).sub(await shifted(-h)).div(2 * h).getRow(4);
    row.forEach((r, j) => expect(Math.abs(D1.get(4, j) - r)).toBeLessThan(1e-8));
  });

  it('refuses an unknown or discrete parameter, naming the known ones', () => {
    const K = maternKernel(x, { sigma: 1, nu: 2.5 });
    expect(() => parameterDerivativeOperator(K, 'nu')).toThrow(/no differentiable parameter 'nu'; it has 'sigma'/);
    expect(() => parameterDerivativeOperator(K, 'sigmaa')).toThrow(/'sigmaa'/);
    expect(() => parameterDerivativeOperator(kernelOperator('dot(x, y)', { x: Vi(x), y: Vj(x) }), 'sigma')).toThrow(/it has none/);
  });
});

describe('the transpose of a cross kernel of r/σ (Cᵀ): its points keep σ\'s scaling', () => {
  // Cᵀ lost the record that its points are (x − c)/σ: its point gradients came out σ times too small and ∂/∂σ was
  // missing ('it has none'), silently; forward products were right
  const sigma = 0.5;
  const cross = (s: number) => gaussianKernel(x, { y, sigma: s });
  it('∂Cᵀ/∂σ is (∂C/∂σ)ᵀ, against central differences', async () => {
    const C = cross(sigma);
    expect(differentiableParameters(C.T as KernelOperator)).toEqual(['sigma']);
    const dT = await parameterDerivativeOperator(C.T as KernelOperator, 'sigma').toDense();
    const fd = await centralDense(cross, sigma, 1e-5);
    expect(maxRel(dT, fd.transpose())).toBeLessThan(1e-7);
  });
  it('Cᵀ\'s vector–Jacobian products equal those of the kernel made with x and y exchanged', async () => {
    const CT = cross(sigma).T as KernelOperator;
    const D = gaussianKernel(y, { y: x, sigma });
    const v = seededVector(3, n);
    const w = seededVector(4, y.length);
    const a = await (await CT.matvecWithVjp(v)).vjp(w);
    const b = await (await D.matvecWithVjp(v)).vjp(w);
    expect(Object.keys(a.params)).toEqual(['sigma']);
    expect(Math.abs(a.params['sigma']! - b.params['sigma']!)).toBeLessThan(1e-12 * Math.abs(b.params['sigma']!));
    for (const key of ['x', 'y'] as const) {
      const [p, q] = [a[key] as Matrix, b[key] as Matrix];
      expect(maxRel(p, q)).toBeLessThan(1e-12);
    }
  });
});

describe('differentiableParameters and parameterDerivativeOperator refuse what is not a KernelOperator', () => {
  it('names what they got (an algebra of kernels, a dense operator, undefined)', () => {
    const K = gaussianKernel(x, { sigma: 1 });
    // a TypeError from reading a missing formula before
    expect(() => differentiableParameters(K.scale(2) as unknown as KernelOperator)).toThrow(/differentiableParameters: expected a KernelOperator, got a ScaledOperator <40x40/);
    expect(() => differentiableParameters(undefined as unknown as KernelOperator)).toThrow(/expected a KernelOperator, got undefined/);
    expect(() => parameterDerivativeOperator(K.shift(1) as unknown as KernelOperator, 'sigma')).toThrow(/parameterDerivativeOperator: expected a KernelOperator, got a ShiftedOperator/);
  });
});

