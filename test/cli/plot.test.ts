import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterSpec, curveSpec, renderPng, renderSvg, residualSpec, sampleIndices, spectrumSpec, surfaceSpec, writePlot } from '../../src/plot/index.js';
import { Resvg } from '@resvg/resvg-js';
import { resvgOptions } from '../../src/plot/render.js';
import { writeFileAtomic } from '../../src/plot/write.js';
import { run, scratch } from './helpers.js';

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Checks that the SVG's tags nest properly (a small XML well-formedness check) and returns its element names. */
export function svgElements(svg: string): string[] {
  const body = svg.replace(/<\?xml[^>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  const stack: string[] = [];
  const names: string[] = [];
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (close) {
      expect(stack.pop(), `</${name}> closes`).toBe(name);
    } else {
      names.push(name!);
      if (!selfClose) stack.push(name!);
    }
  }
  expect(stack).toEqual([]);
  expect(names[0]).toBe('svg');
  return names;
}

let cleanup: (() => void)[] = [];
afterEach(() => { cleanup.forEach((f) => f()); cleanup = []; });

describe('plots', () => {
  it('clusters: one symbol per point, coloured by label; large sets are subsampled and the title says so', async () => {
    const points = Array.from({ length: 30 }, (_, i) => [Math.cos(i), Math.sin(i)]);
    const labels = Int32Array.from({ length: 30 }, (_, i) => i % 3);
    const svg = await renderSvg(clusterSpec(points, labels));
    svgElements(svg);
    expect(svg).toContain('mark-symbol');
    expect((svg.match(/<path[^>]*aria-roledescription="circle"/g) ?? []).length).toBe(30);
    expect(svg).toContain('>cluster<'); // the legend title

    const big = { data: new Float64Array(2 * 20_000).map((_, k) => Math.sin(k)), rows: 20_000, cols: 2 };
    const spec = clusterSpec(big, new Int32Array(20_000), { maxPoints: 500 });
    expect(spec['title']).toEqual(['Spectral clustering', '(500 of 20,000 points shown, uniform sample)']);
    expect(((spec['data'] as { values: unknown[] }).values).length).toBe(500);
  });

  it('sampleIndices: distinct, ascending, seeded, all when n ≤ max', () => {
    const s = sampleIndices(1000, 100, 5);
    expect(new Set(s).size).toBe(100);
    expect(Array.from(s)).toEqual(Array.from(s).sort((a, b) => a - b));
    expect(Array.from(sampleIndices(1000, 100, 5))).toEqual(Array.from(s));
    expect(Array.from(sampleIndices(4, 10))).toEqual([0, 1, 2, 3]);
  });

  it('curve, surface, spectrum and residual plots render to well-formed SVG with their marks', async () => {
    const x = [0, 1, 2, 3];
    const curve = await renderSvg(curveSpec({ x, y: [0, 1, 0, 1] }, { t: [3, 0, 1.5], f: [1, 0, 0.5] }));
    expect(curve).toContain('mark-line');
    expect(curve).toContain('mark-symbol');
    const surface = await renderSvg(surfaceSpec({ x: [0, 1, 2], y: [0, 1], values: [1, 2, 3, 4, 5, 6] }, [[0.5, 0.5]]));
    expect((surface.match(/aria-roledescription="rect mark"/g) ?? []).length).toBe(6);
    const spectrum = await renderSvg(spectrumSpec([1, 100, 1e4]));
    expect(spectrum).toContain('eigenvalue');
    const residuals = await renderSvg(residualSpec([1, 0.1, 0.01, 1e-3], { target: 1e-3 }));
    expect(residuals).toContain('mark-rule');
    for (const svg of [curve, surface, spectrum, residuals]) svgElements(svg);
  });

  it('writePlot: PNG by extension (magic bytes), SVG otherwise; an unknown extension is refused and nothing written', async () => {
    const s = scratch();
    cleanup.push(s.remove);
    const spec = spectrumSpec([3, 2, 1]);
    await writePlot(spec, s.path('a.png'));
    await writePlot(spec, s.path('a.svg'));
    expect(Array.from(readFileSync(s.path('a.png')).subarray(0, 8))).toEqual(PNG_MAGIC);
    svgElements(readFileSync(s.path('a.svg'), 'utf8'));
    await expect(writePlot(spec, s.path('a.pdf'))).rejects.toThrow(/a\.pdf: the extension must be \.svg or \.png/);
    expect(s.list()).toEqual(['a.png', 'a.svg']);
    // a failed write names the file asked for and why, not the temporary file beside it
    await expect(writePlot(spec, s.path('missing/a.svg'))).rejects.toThrow(/^cannot write .*missing\/a\.svg: its directory .*missing does not exist$/);
    await expect(writePlot(spec, s.path('.'))).rejects.toThrow(/extension must be/);
    // the PNG's IHDR width is the SVG's width times the scale
    const width = Number(/<svg[^>]* width="(\d+)"/.exec(await renderSvg(spec))![1]);
    expect((await renderPng(spec, { scale: 1 })).readUInt32BE(16)).toBe(width);
    expect((await renderPng(spec)).readUInt32BE(16)).toBe(2 * width);
  });

  it('a write that fails in its directory names the path given, not the hidden temporary file beside it (/proc/.p.svg.14369….tmp before)', async () => {
    if (!existsSync('/proc/self')) return; // Linux: /proc exists and takes no new files, whoever runs the test
    const spec = spectrumSpec([3, 2, 1]);
    const why = /^cannot write \/proc\/p\.svg: [a-z ]+ \((ENOENT|EACCES|EPERM), creating a file in \/proc\)$/;
    await expect(writePlot(spec, '/proc/p.svg')).rejects.toThrow(why);
    await expect(writePlot(spec, '/proc/p.svg')).rejects.not.toThrow(/\.tmp|'\/proc\/\./);
    const s = scratch({ 'sym.csv': '2,1\n1,2\n' });
    cleanup.push(s.remove);
    for (const flag of ['--output', '--plot']) {
      const file = flag === '--output' ? '/proc/x.csv' : '/proc/p.svg';
      const r = await run('eigsh', s.path('sym.csv'), '--matrix', '--k', '1', '--quiet', flag, file);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(new RegExp(`^lazylinalg eigsh: cannot write ${file.replace(/\./g, '\\.')}: [a-z ]+ \\((ENOENT|EACCES|EPERM), creating a file in /proc\\)$`));
    }
  });

  it('an output under a file is refused by name before any work (a raw ENOTDIR from stat before)', async () => {
    const s = scratch({ 'sym.csv': '2,1\n1,2\n', 'afile': 'x' });
    cleanup.push(s.remove);
    const r = await run('eigsh', s.path('sym.csv'), '--matrix', '--k', '1', '--quiet', '--output', s.path('afile/sub/x.csv'));
    expect(r).toEqual({ code: 2, out: '', err: `lazylinalg: --output ${s.path('afile/sub/x.csv')}: cannot be written: ${s.path('afile')} is not a directory` });
  });

  it('a file name near the 255-byte limit is written (the temporary name beside it was longer, ENAMETOOLONG)', () => {
    const s = scratch();
    cleanup.push(s.remove);
    const name = `${'n'.repeat(250)}.csv`;
    writeFileAtomic(s.path(name), '1\n');
    expect(s.list()).toEqual([name]);
  });

  it('PNG text is drawn: a system font is found (CI installs fonts-dejavu-core)', () => {
    const dark = (svg: string) => {
      const px = new Resvg(svg, resvgOptions(1)).render().pixels;
      let n = 0;
      for (let k = 0; k < px.length; k += 4) if (px[k]! < 128) n++;
      return n;
    };
    const text = (t: string) => `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><text x="4" y="22" font-family="sans-serif" font-size="18">${t}</text></svg>`;
    expect(dark(text(''))).toBe(0);
    expect(dark(text('σ = 0.25'))).toBeGreaterThan(50);
  });
});
