/** `lazylinalg bench`: Gaussian kernel matvec throughput on random points, per backend and dtype. */
import { mulberry32 } from '../../krylov/random.js';
import { getBackendInfo } from '../../gpu/device.js';
import { gaussianKernel } from '../../operators/kernels.js';
import { fmt, SEED_FLAG, type Command, type Context } from './common.js';
import { formatMs } from '../progress.js';

export const benchCommand: Command = {
  spec: {
    name: 'bench',
    summary: 'kernel matvec throughput (pairs per second) on random points, CPU and GPU',
    positionals: [],
    flags: [
      { name: 'n', kind: 'int', min: 100, max: 10_000_000, default: 20_000, value: 'N', help: 'number of points' },
      { name: 'd', kind: 'int', min: 1, max: 1024, default: 3, value: 'D', help: 'dimension' },
      { name: 'repeats', kind: 'int', min: 1, max: 100, default: 3, value: 'R', help: 'timed products per case (the best is reported)' },
      { name: 'backend', kind: 'choice', choices: ['auto', 'cpu', 'gpu'], default: 'auto', help: "cases to run ('auto': the CPU, and the GPU when an adapter exists)" },
      SEED_FLAG,
    ],
    examples: ['lazylinalg bench', 'lazylinalg bench --n 100000 --d 3 --backend gpu'],
    details: 'Each case runs one untimed product first (pool start-up, compilation, dense-cache decisions are not timed).',
  },
  async run(args, ctx) {
    const n = args.number('n')!;
    const d = args.number('d')!;
    const rand = mulberry32(args.number('seed')!);
    const points = { data: Float64Array.from({ length: n * d }, () => rand()), rows: n, cols: d };
    const v = Float64Array.from({ length: n }, () => rand() - 0.5);
    const choice = args.string('backend')!;
    const cases: ['cpu' | 'gpu', 'float64' | 'float32'][] = [];
    if (choice !== 'gpu') cases.push(['cpu', 'float64'], ['cpu', 'float32']);
    if (choice !== 'cpu') {
      const info = await getBackendInfo().catch(() => undefined);
      if (info?.adapter) cases.push(['gpu', 'float32']);
      else if (choice === 'gpu') throw new Error(`no GPU adapter${info?.reason ? `: ${info.reason}` : ''}`);
      else ctx.out('(no GPU adapter: CPU cases only)');
    }
    ctx.out(`bench: Gaussian kernel matvec, n = ${n}, d = ${d}, ${(n * n / 1e6).toFixed(0)}M pairs per product, best of ${args.number('repeats')}`);
    for (const [backend, dtype] of cases) await benchCase(ctx, points, v, backend, dtype, args.number('repeats')!);
  },
};

async function benchCase(ctx: Context, points: { data: Float64Array; rows: number; cols: number }, v: Float64Array, backend: 'cpu' | 'gpu', dtype: 'float64' | 'float32', repeats: number): Promise<void> {
  const K = gaussianKernel(points, { sigma: 0.5, dtype, backend, denseCache: 'never' });
  ctx.progress.update(`bench: ${backend} ${dtype} warm-up`);
  await K.matvec(v);
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    ctx.progress.update(`bench: ${backend} ${dtype} ${r + 1}/${repeats}`);
    const t0 = performance.now();
    await K.matvec(v);
    best = Math.min(best, performance.now() - t0);
  }
  ctx.progress.done();
  const n = points.rows;
  ctx.out(`  ${backend} ${dtype}: ${formatMs(best).padStart(8)}  ${fmt((n * n) / (best / 1000), 3)} pairs/s`);
}
