// A kernel's construction does not depend on a CPU program compiling (src/cpu/points-prep.ts): where the points'
// program cannot be compiled — here LAZYLINALG_WASM_TIERING holds an unknown value, refused at the first compile —
// the loops prepare the points (the same bits as the program's), and the first CPU product reports the cause, naming
// the setting.
import { afterAll, describe, expect, it } from 'vitest';
import { gaussianKernel } from '../../src/index.js';
import { PREP_MIN_ENTRIES, prepCounts } from '../../src/cpu/points-prep.js';
import { seededPoints, seededVector } from '../random-data.js';

afterAll(() => {
  delete process.env['LAZYLINALG_WASM_TIERING'];
});

describe('the points prepared without their program', () => {
  it('construction succeeds by the loops; the first product names the setting', async () => {
    process.env['LAZYLINALG_WASM_TIERING'] = 'fast'; // before this process's first compile
    const rows = 2000;
    const x = seededPoints(3, rows, 8);
    expect(rows * 8).toBeGreaterThanOrEqual(PREP_MIN_ENTRIES);
    const K = gaussianKernel(x, { sigma: 0.7, dtype: 'float64', backend: 'cpu' });
    expect(prepCounts.passes).toBe(0); // the loops ran
    await expect(K.matvec(seededVector(4, rows))).rejects.toThrow(/LAZYLINALG_WASM_TIERING must be 'default'.*got 'fast'/);
    // the setting mended, the program prepares the same points: the two operators' entries are the same bits
    delete process.env['LAZYLINALG_WASM_TIERING'];
    const K2 = gaussianKernel(x, { sigma: 0.7, dtype: 'float64', backend: 'cpu' });
    expect(prepCounts.passes).toBe(1);
    expect((await K.toDense()).to1DArray()).toEqual((await K2.toDense()).to1DArray());
  });
});
