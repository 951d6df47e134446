// Importing linear-operator.js alone (no index, no algebra re-export) must work: the algebra
// classes live in the same module, so there is no ESM cycle to trip over.
import { describe, expect, it } from 'vitest';
import { LinearOperator } from '../../src/operators/linear-operator.js';

class Doubler extends LinearOperator {
  constructor(n: number) { super([n, n], 'float64', { symmetric: true }); }
  protected override async _matvec(x: Float64Array): Promise<Float64Array> {
    return x.map((v) => 2 * v);
  }
}

describe('linear-operator.js on its own', () => {
  it('builds composites without other imports', async () => {
    const D = new Doubler(3);
    const op = D.add(D).scale(0.5).shift(1).dot(D).T;
    expect(Array.from(await op.matvec([1, 2, 3]))).toEqual([6, 12, 18]) // ((2+2)·½ + 1)·2 = 6;
    expect(String(D)).toBe('<3x3 Doubler float64>');
  });
});
