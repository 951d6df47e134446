// The built modules (scripts/ascii-dist.mjs, npm run build): ASCII without comments, so that V8 keeps one byte per
// character of their source for the life of the process; the escapes mean the same values.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { asciiSource as escape } from '../../scripts/ascii-dist.mjs';
const dist = fileURLToPath(new URL('../../dist/', import.meta.url));

/** The module `source` evaluates to (its exports), through a data: URL. */
const evaluate = async (source: string): Promise<Record<string, unknown>> =>
  import(`data:text/javascript;base64,${Buffer.from(source, 'utf8').toString('base64')}`) as Promise<Record<string, unknown>>;

const builtModules = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? builtModules(join(dir, e.name)) : /\.(c|m)?js$/.test(e.name) ? [join(dir, e.name)] : []));

describe('ascii-dist', () => {
  it('escapes every non-ASCII unit to the same string, template, regular expression and property name', async () => {
    const source = [
      "export const s = 'σ = 1e-200 — ‖x‖ ≤ α 😀';",
      'export const t = `β${1 + 1}γ`;',
      "export const matched = /^α+[β-δ]$/.test('ααγ') && /😀/u.test('😀') && !/^α$/.test('a');",
      'export const o = { σ: 3 }.σ;',
      "export const quoted = \"a \\\\ σ\";", // an escaped backslash before the character (two: not an identity escape)
    ].join('\n');
    const ascii = escape(source, 'x.js');
    expect(/[^\x00-\x7f]/.test(ascii)).toBe(false);
    const [before, after] = await Promise.all([evaluate(source), evaluate(ascii)]);
    expect({ ...after }).toEqual({ ...before });
    expect(after['s']).toBe('σ = 1e-200 — ‖x‖ ≤ α 😀');
    expect(after['matched']).toBe(true);
    expect(after['quoted']).toBe('a \\ σ');
  });

  it('refuses an identity escape of such a character, naming the file and line', () => {
    expect(() => escape("const a = 1;\nconst b = '\\σ';", 'dist/x.js')).toThrow(/dist\/x\.js:2: a backslash before 'σ'/);
  });

  it('leaves every built module ASCII and without doc comments', () => {
    const files = builtModules(dist);
    expect(files.length).toBeGreaterThan(100);
    const nonAscii = files.filter((f) => /[^\x00-\x7f]/.test(readFileSync(f, 'utf8')));
    expect(nonAscii).toEqual([]);
    // the declarations keep them (editors show them); the modules V8 holds do not
    expect(files.filter((f) => readFileSync(f, 'utf8').includes('/**'))).toEqual([]);
    expect(readFileSync(join(dist, 'krylov/cg.d.ts'), 'utf8')).toMatch(/\/\*\*/);
  });
});
