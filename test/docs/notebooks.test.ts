/**
 * The committed notebooks carry their outputs (GitHub renders them): every code cell was executed, in order, without
 * an error output, and its images are there. Executing them is scripts/run-notebooks.sh's job (CI's last step).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './built-package.js';

interface Cell { cell_type: string; execution_count?: number | null; outputs?: { output_type: string; data?: Record<string, unknown> }[]; source: string | string[] }

const DIR = join(ROOT, 'notebooks');
const notebooks = readdirSync(DIR).filter((f) => f.endsWith('.ipynb'));

describe('notebooks/ as committed', () => {
  it('has the four notebooks the README links to', () => {
    expect(notebooks.sort()).toEqual(['eigsh.ipynb', 'interpolation.ipynb', 'preconditioning.ipynb', 'spectral-clustering.ipynb']);
  });

  for (const name of notebooks) {
    it(`${name}: every code cell executed in order, no errors, plots present, Deno kernel`, () => {
      const nb = JSON.parse(readFileSync(join(DIR, name), 'utf8')) as { cells: Cell[]; metadata: { kernelspec?: { name?: string } } };
      expect(nb.metadata.kernelspec?.name).toBe('deno');
      const code = nb.cells.filter((c) => c.cell_type === 'code');
      expect(code.map((c) => c.execution_count)).toEqual(code.map((_, i) => i + 1));
      const outputs = code.flatMap((c) => c.outputs ?? []);
      expect(outputs.filter((o) => o.output_type === 'error')).toEqual([]);
      const images = outputs.filter((o) => o.data !== undefined && 'image/png' in o.data);
      expect(images.length).toBeGreaterThanOrEqual(1);
      const plotCalls = code.map((c) => [c.source].flat().join('')).join('\n').match(/await (plot|scatter)\(/g) ?? [];
      expect(images.length).toBe(plotCalls.length);
    });
  }
});
