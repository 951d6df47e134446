import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { DenseOperator, LinearOperator } from '../../src/operators/index.js';
import { Block } from '../../src/operators/block.js';
import { randomMatrix } from './helpers.js';
import { setGpuProfiling } from '../../src/gpu/reduce.js';
import { defaultNeighbors } from '../../src/apps/spectral-clustering.js';
import { farthestPointLandmarks } from '../../src/preconditioners/farthest-point.js';
import { descriptorFormula } from '../../src/operators/cdist.js';
import { gaussianKernel } from '../../src/operators/kernels.js';
import { Vi, Vj } from '../../src/formula/index.js';

const big = new DenseOperator(new Float64Array(20 * 2000), [20, 2000]);
const small = new DenseOperator(randomMatrix(3, 4, 31));

describe('input validation (checked once, at the public methods)', () => {
  it('wrong vector length', async () => {
    await expect(big.matvec(new Float64Array(1999))).rejects.toThrow('matvec: expected a vector of length 2000, got length 1999');
    await expect(small.rmatvec([1, 2])).rejects.toThrow('rmatvec: expected a vector of length 3, got length 2');
  });

  it('NaN / Infinity name their index and value', async () => {
    await expect(small.matvec([0, 1, NaN, 3])).rejects.toThrow('matvec: entry 2 of the vector is NaN; entries must be finite');
    await expect(small.rmatvec(new Float32Array([0, -Infinity, 1]))).rejects.toThrow(/rmatvec: entry 1 of the vector is -Infinity/);
    await expect(small.matvec([0, 1, '2', 3] as unknown as number[])).rejects.toThrow(/entry 2 of the vector is a string "2", expected a number/);
  });

  it('non-vector inputs', async () => {
    await expect(small.matvec('1234' as unknown as number[])).rejects.toThrow(/matvec: expected a vector .* of length 4, got a string "1234"/);
    await expect(small.matvec(new Int32Array(4) as unknown as number[])).rejects.toThrow(/got an Int32Array of length 4/);
    // a number[][] where a vector goes is said as the block it is ("entry 0 of the vector is an array of length 1" before)
    await expect(small.matvec([[1], [2], [3], [4]] as unknown as number[])).rejects.toThrow('matvec: expected a vector (Float64Array, Float32Array or number[]) of length 4, got a 4x1 number[][] (a block)');
  });

  it('blocks: wrong rows, ragged, non-finite, wrong type', async () => {
    await expect(small.matmat(new Matrix(3, 2))).rejects.toThrow('matmat: expected a block with 4 rows, got a 3x2 Matrix');
    await expect(small.matmat([[1], [2], [3]])).rejects.toThrow('matmat: expected a block with 4 rows, got a 3x1 number[][]');
    await expect(small.matmat([[1, 2], [3], [4, 5], [6, 7]])).rejects.toThrow(/ragged number\[\]\[\]: row 1 has length 1, but row 0 has length 2/);
    const X = new Matrix(4, 2);
    X.set(3, 1, NaN);
    await expect(small.matmat(X)).rejects.toThrow('matmat: entry (3, 1) of the block is NaN; entries must be finite');
    await expect(small.rmatmat(new Float64Array(3) as unknown as Matrix)).rejects.toThrow(/rmatmat: expected a block .* got a Float64Array of length 3/);
  });

  it('inputs are copied: the operator never sees later changes and never mutates them', async () => {
    const x = [1, 2, 3, 4];
    const y = await small.matvec(x);
    expect(x).toEqual([1, 2, 3, 4]);
    expect(y).toBeInstanceOf(Float64Array);
  });
});

describe('public helpers check their arguments (a value of the wrong type was used as given or crashed inside)', () => {
  it('setGpuProfiling, defaultNeighbors, farthestPointLandmarks, descriptorFormula', () => {
    // before: 'yes' switched profiling on; n = 0 and '10' gave 10; points and a missing x ended in "Cannot read properties of undefined"
    expect(() => setGpuProfiling('yes' as never)).toThrow('setGpuProfiling: on must be true or false, got a string "yes"');
    expect(() => defaultNeighbors(0)).toThrow('defaultNeighbors: n must be an integer ≥ 1, got number 0');
    expect(() => defaultNeighbors('10' as never)).toThrow('defaultNeighbors: n must be an integer ≥ 1, got a string "10"');
    expect(defaultNeighbors(3000)).toBe(10);
    expect(defaultNeighbors(30001)).toBe(101);
    const pts = Array.from({ length: 20 }, (_, i) => [Math.sin(i), Math.cos(0.7 * i)]);
    const K = gaussianKernel(pts);
    expect(() => farthestPointLandmarks(pts as never, 5, 0)).toThrow('farthestPointLandmarks: K must be a KernelOperator (its points are the candidates), got an array of length 20');
    expect(() => farthestPointLandmarks(K, 21, 0)).toThrow('farthestPointLandmarks: m must be an integer ≥ 1 and ≤ 20, got number 21');
    expect(() => farthestPointLandmarks(K, 3, 0.5)).toThrow('farthestPointLandmarks: seed must be an integer, got number 0.5');
    expect(new Set(farthestPointLandmarks(K, 20, 0)).size).toBe(20);
    expect(() => descriptorFormula({ innerP: 2, epilogue: 'gaussian', bandwidth: 1 }, undefined as never, Vj(pts))).toThrow('descriptorFormula: x must be a Formula (e.g. Vi(points)), got undefined');
    expect(() => descriptorFormula({ innerP: 2, epilogue: 'gaussian', bandwidth: 1 }, Vi(pts), pts as never)).toThrow('descriptorFormula: y must be a Formula (e.g. Vj(points)), got an array of length 20');
  });
});

describe('LinearOperator subclass contract', () => {
  class OnlyMatvec extends LinearOperator {
    constructor() { super([2, 3]); }
    protected override async _matvec(x: Float64Array): Promise<Float64Array> {
      return new Float64Array([x[0]! + x[1]!, x[2]!]);
    }
  }
  class OnlyMatmat extends LinearOperator {
    constructor() { super([2, 2]); }
    protected override async _matmat(X: Block): Promise<Block> {
      return new Block(X.data.map((v) => 2 * v), X.rows, X.cols);
    }
  }
  class Neither extends LinearOperator {
    constructor() { super([2, 2]); }
  }
  class WrongLength extends LinearOperator {
    constructor() { super([2, 2]); }
    protected override async _matvec(): Promise<Float64Array> {
      return new Float64Array(3);
    }
  }

  it('matvec gives matmat and matmat gives matvec', async () => {
    const Y = await new OnlyMatvec().matmat([[1, 10], [2, 20], [3, 30]]);
    expect(Y.to2DArray()).toEqual([[3, 30], [3, 30]]);
    expect(Array.from(await new OnlyMatmat().matvec([1, 2]))).toEqual([2, 4]);
  });

  it('a subclass implementing neither hook gets a clear error naming it (no infinite recursion)', async () => {
    await expect(new Neither().matvec([1, 2])).rejects.toThrow('Neither implements neither _matvec nor _matmat');
    await expect(new Neither().matmat([[1], [2]])).rejects.toThrow('Neither implements neither _matvec nor _matmat');
  });

  it('a _matmat hook returning anything but a Block of the right shape is reported', async () => {
    class MatrixHook extends LinearOperator {
      constructor() { super([2, 2]); }
      protected override async _matmat(X: Block): Promise<Block> {
        return X.toMatrix() as unknown as Block;
      }
    }
    await expect(new MatrixHook().matmat([[1, 2], [3, 4]])).rejects.toThrow(
      '_matmat of <2x2 MatrixHook float64> returned a 2x2 Matrix, expected a 2x2 Block',
    );
  });

  it('a hook returning the wrong length is reported', async () => {
    await expect(new WrongLength().matvec([1, 2])).rejects.toThrow(
      '_matvec of <2x2 WrongLength float64> returned a Float64Array of length 3, expected a Float64Array of length 2',
    );
  });

  it('constructor validates shape and dtype', () => {
    class Bad extends LinearOperator {
      constructor(shape: [number, number], dtype?: 'float32' | 'float64', symmetric?: boolean) {
        super(shape, dtype, { symmetric });
      }
    }
    expect(() => new Bad([0, 2])).toThrow('Bad: shape must be [rows, cols] with positive integers, got [0, 2]');
    expect(() => new Bad([2, NaN])).toThrow(/got \[2, NaN\]/);
    expect(() => new Bad([2, 2], 'float16' as 'float32')).toThrow(/dtype must be 'float32' or 'float64', got a string "float16"/);
    expect(() => new Bad([2, 3], 'float64', true)).toThrow('Bad: a symmetric operator must be square, got shape 2x3');
  });

  it('shape is frozen', () => {
    expect(Object.isFrozen(small.shape)).toBe(true);
  });
});
