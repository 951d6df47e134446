/** Canvas drawing for the demo page: coloured clusters, and an interpolated surface as a heat map. */
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const PAD = 20;

function scaler(canvas: HTMLCanvasElement, lo: number[], hi: number[]): (p: number[]) => [number, number] {
  const s = Math.min((canvas.width - 2 * PAD) / (hi[0]! - lo[0]! || 1), (canvas.height - 2 * PAD) / (hi[1]! - lo[1]! || 1));
  return (p) => [PAD + (p[0]! - lo[0]!) * s, canvas.height - PAD - (p[1]! - lo[1]!) * s];
}

function extent(points: number[][]): [number[], number[]] {
  const lo = [Infinity, Infinity];
  const hi = [-Infinity, -Infinity];
  for (const p of points) for (let k = 0; k < 2; k++) { lo[k] = Math.min(lo[k]!, p[k]!); hi[k] = Math.max(hi[k]!, p[k]!); }
  return [lo, hi];
}

export function drawClusters(canvas: HTMLCanvasElement, points: number[][], labels: Int32Array): void {
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const [lo, hi] = extent(points);
  const at = scaler(canvas, lo, hi);
  points.forEach((p, i) => {
    const [x, y] = at(p);
    ctx.fillStyle = PALETTE[labels[i]! % PALETTE.length]!;
    ctx.beginPath();
    ctx.arc(x, y, 3.5, 0, 2 * Math.PI);
    ctx.fill();
  });
}

/** Blue (low) to red (high). */
function heat(t: number): string {
  const u = Math.max(0, Math.min(1, t));
  return `rgb(${Math.round(255 * u)}, ${Math.round(80 + 100 * (1 - Math.abs(2 * u - 1)))}, ${Math.round(255 * (1 - u))})`;
}

export function drawSurface(canvas: HTMLCanvasElement, points: number[][], surface: Float64Array, G: number, lo: number[], hi: number[]): void {
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  let min = Infinity;
  let max = -Infinity;
  for (const v of surface) { min = Math.min(min, v); max = Math.max(max, v); }
  const at = scaler(canvas, lo, hi);
  const [x0, y0] = at(lo);
  const [x1, y1] = at(hi);
  const w = (x1 - x0) / (G - 1);
  const h = (y0 - y1) / (G - 1);
  for (let a = 0; a < G; a++) {
    for (let b = 0; b < G; b++) {
      ctx.fillStyle = heat((surface[a * G + b]! - min) / (max - min || 1));
      ctx.fillRect(x0 + b * w - w / 2, y0 - a * h - h / 2, w + 1, h + 1);
    }
  }
  ctx.fillStyle = 'rgba(0,0,0,0.6)';
  for (const p of points) { const [x, y] = at(p); ctx.fillRect(x - 1, y - 1, 2, 2); }
}
