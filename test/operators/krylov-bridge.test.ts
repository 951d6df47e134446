import { afterEach, describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { DenseOperator, registerKrylovModule, ShiftedOperator, type KrylovModule, type LinearOperator } from '../../src/operators/index.js';

afterEach(() => registerKrylovModule(undefined));

describe('eigsh / solve conveniences delegate to the krylov module', () => {
  const A = new DenseOperator([[2, 0], [0, 3]], undefined, { symmetric: true });

  it('solve calls cg on A + alpha·I and returns x; eigsh passes k and options through', async () => {
    const calls: { op: LinearOperator; b: unknown; options: unknown }[] = [];
    const fake: KrylovModule = {
      eigsh: async (op, k, options) => ({ eigenvalues: new Float64Array([k ?? -1]), iterations: 0, matvecs: 0, op, options }) as never,
      cg: async (op, b, options) => {
        calls.push({ op, b, options });
        return { x: b instanceof Matrix ? b.clone() : Float64Array.from(b), info: 0 };
      },
    };
    registerKrylovModule(fake);

    const x = await A.solve([1, 2], 0.5, { rtol: 1e-8 });
    expect(Array.from(x)).toEqual([1, 2]);
    expect(calls[0]!.op).toBeInstanceOf(ShiftedOperator);
    expect((calls[0]!.op as ShiftedOperator).alpha).toBe(0.5);
    expect(calls[0]!.b).toBeInstanceOf(Float64Array);
    expect(calls[0]!.options).toEqual({ rtol: 1e-8 });

    await A.solve(new Float64Array([1, 1]));
    expect(calls[1]!.op).toBe(A);

    const X = await A.solve([[1, 2], [3, 4]]);
    expect(X).toBeInstanceOf(Matrix);

    const result = await A.eigsh(1, { which: 'LA' });
    expect(Array.from(result.eigenvalues)).toEqual([1]);
  });

  it('solve validates before loading the solver', async () => {
    await expect(A.solve([1, 2, 3])).rejects.toThrow('solve: expected a vector of length 2, got length 3');
    await expect(new DenseOperator([[1, 2, 3]]).solve([1])).rejects.toThrow(/solve: needs a square operator, got shape 1x3/);
    await expect(A.solve([1, 2], NaN)).rejects.toThrow(/solve \(alpha\): expected a finite number, got NaN/);
    await expect(A.solve([1, 2], '1' as unknown as number)).rejects.toThrow(TypeError);
    await expect(A.solve([1, 2], '1' as unknown as number)).rejects.toThrow('solve (alpha): expected a finite number, got a string "1"');
  });
});
