/**
 * Every script in examples/ runs to the end with a small n (LAZYLINALG_EXAMPLE_N), states its one-line run
 * command at the top, and prints only finite numbers; the numeric checks each example prints (residuals, RMSE,
 * differences from a second formulation) are asserted here against thresholds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, ROOT, runNode } from '../docs/built-package.js';

const DIR = join(ROOT, 'examples');
const scripts = readdirSync(DIR).filter((f) => f.endsWith('.mjs') && readFileSync(join(DIR, f), 'utf8').includes('\n// Run: '));

/** Numbers printed after a label, e.g. all the residuals of 'λv‖/λ = 2.2e-15'. */
const numbersAfter = (text: string, label: string) =>
  [...text.matchAll(new RegExp(`${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*([-+0-9.e]+)`, 'g'))].map((m) => Number(m[1]));

/** What each example's own output must show (small-n runs). */
const CHECKS: Record<string, (out: string) => void> = {
  'interpolation-1d.mjs': (out) => expect(numbersAfter(out, 'noiseless signal:')[0]).toBeLessThan(0.05),
  'interpolation-2d.mjs': (out) => {
    expect(numbersAfter(out, 'noiseless function:')[0]).toBeLessThan(0.2);
    expect(numbersAfter(out, 'from laplacianKernel')[0]).toBeLessThan(1e-12);
  },
  'eigsh-large-kernel.mjs': (out) => {
    const residuals = numbersAfter(out, 'λv‖/λ =');
    expect(residuals).toHaveLength(5);
    for (const r of residuals) expect(r).toBeLessThan(1e-8);
  },
  'spectral-clustering.mjs': (out) => {
    const ari = numbersAfter(out, 'the true groups:');
    expect(ari).toHaveLength(2);
    for (const a of ari) expect(a).toBeGreaterThanOrEqual(0.95);
  },
  'kernel-ridge.mjs': (out) => {
    expect(numbersAfter(out, 'noiseless f:')[0]).toBeLessThan(0.08);
    expect(numbersAfter(out, 'held-out points:')[0]).toBeGreaterThan(0.95);
    expect(out).toContain('two outputs at 3 points: 3×2');
  },
  'choosing-a-preconditioner.mjs': (out) => {
    const infos = numbersAfter(out, 'info');
    expect(infos).toHaveLength(4);
    expect(infos.every((i) => i === 0)).toBe(true);
    expect(out).toMatch(/K\.solve\(b, 0\.01\) would use: (cholesky|cg)/);
  },
};

describe('examples/', () => {
  beforeAll(assertBuilt);

  it('has the scripts the docs link to, each with a check here', () => {
    expect(scripts.sort()).toEqual(Object.keys(CHECKS).sort());
  });

  for (const script of scripts) {
    it(`${script} runs with a small n`, async () => {
      const header = readFileSync(join(DIR, script), 'utf8').split('\n').slice(0, 6).join('\n');
      expect(header).toContain(`node examples/${script}`);
      const { code, stdout, stderr } = await runNode(join(DIR, script), { LAZYLINALG_EXAMPLE_N: '1200' });
      expect(stderr, stdout).toBe('');
      expect(code).toBe(0);
      expect(stdout).not.toMatch(/NaN|Infinity/);
      CHECKS[script]?.(stdout);
    });
  }
});
