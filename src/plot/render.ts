/**
 * Rendering Vega-Lite (or Vega) specs headless: Vega's SVG renderer, then resvg for PNG. Text needs
 * a system font for resvg (DejaVu Sans on Debian: package fonts-dejavu-core); without one the PNG's
 * labels are blank, the SVG is unaffected. vega, vega-lite and resvg load on first use, so that
 * importing the library costs nothing for them.
 */
import { extname } from 'node:path';
import type { ResvgRenderOptions } from '@resvg/resvg-js';
import type * as vega from 'vega';
import type { PlotSpec } from './specs.js';
import { writeFileAtomic } from './write.js';

/** A Vega-Lite spec is compiled to Vega first; a Vega spec (with `marks`) is used as it is. */
async function toVega(spec: PlotSpec): Promise<vega.Spec> {
  if ('marks' in spec && !('mark' in spec)) return spec as vega.Spec;
  const vegaLite = await import('vega-lite');
  return vegaLite.compile(spec as unknown as Parameters<typeof vegaLite.compile>[0]).spec;
}

/** The plot as an SVG document. */
export async function renderSvg(spec: PlotSpec): Promise<string> {
  const vega = await import('vega');
  const view = new vega.View(vega.parse(await toVega(spec)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The plot as PNG bytes (`scale` 2 by default: crisp on high-density screens). */
export async function renderPng(spec: PlotSpec, options: { scale?: number } = {}): Promise<Buffer> {
  const svg = await renderSvg(spec);
  const { Resvg } = await import('@resvg/resvg-js');
  return new Resvg(svg, resvgOptions(options.scale ?? 2)).render().asPng();
}

/** resvg's options: white background, zoom, the system's fonts (DejaVu Sans for 'sans-serif'). */
export function resvgOptions(scale: number): ResvgRenderOptions {
  return {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  };
}

export const PLOT_FORMATS = ['.svg', '.png'] as const;

/** Refuses a plot path whose extension is neither .svg nor .png. */
export function checkPlotPath(file: string): void {
  const ext = extname(file).toLowerCase();
  if (!(PLOT_FORMATS as readonly string[]).includes(ext)) throw new RangeError(`plot file ${file}: the extension must be .svg or .png`);
}

/** The file's bytes by its extension (.svg or .png). */
export async function renderPlot(spec: PlotSpec, file: string): Promise<string | Buffer> {
  checkPlotPath(file);
  return extname(file).toLowerCase() === '.png' ? renderPng(spec) : renderSvg(spec);
}

/** Renders and writes the plot, by extension; the file is complete or untouched (temporary file + rename). */
export async function writePlot(spec: PlotSpec, file: string): Promise<void> {
  writeFileAtomic(file, await renderPlot(spec, file));
}
