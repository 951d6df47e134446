"""PyTorch brute-force argKmin, the reference of bench/gpu-runs.mjs argkmin (issue 21, run 4).

For every row x_i the k smallest |x_i - y_j|^2 over j, by torch.cdist + topk in chunks of rows, on the GPU,
float32 (cdist's default compute mode: the matmul form for large inputs, as a PyTorch user gets it).
Where torch (or CUDA) is missing, numpy does the same on the CPU (for dry runs only: the engine is printed).

  python3 torch_argkmin_ref.py POINTS.f32 n m d k OUT.i32 [--chunk ROWS]

POINTS.f32 holds x (n*d) then y (m*d) as float32, row-major. Writes the n*k indices (int32, nearest first) to
OUT.i32 and prints one JSON line: engine, device, seconds (best of --reps, default 2: the first run includes CUDA's
warm-up, reported apart), chunk.
"""
import json
import sys
import time

import numpy as np


def main():
    path, n, m, d, k, out = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
    opts = dict(zip(sys.argv[7::2], sys.argv[8::2]))
    chunk = int(opts.get('--chunk', 2048))
    reps = int(opts.get('--reps', 2))
    p = np.fromfile(path, dtype=np.float32)
    x, y = p[: n * d].reshape(n, d), p[n * d: n * d + m * d].reshape(m, d)
    try:
        import torch
        if not torch.cuda.is_available():
            raise ImportError('no CUDA device')
    except ImportError as e:
        idx, seconds = numpy_argkmin(x, y, k, min(chunk, 256))
        idx.astype(np.int32).tofile(out)
        print(json.dumps({'engine': 'numpy', 'why': str(e), 'seconds': seconds, 'chunk': min(chunk, 256)}))
        return
    X = torch.from_numpy(x).cuda()
    Y = torch.from_numpy(y).cuda()
    idx = torch.empty((n, k), dtype=torch.int64, device='cuda')
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        for s in range(0, n, chunk):
            dist = torch.cdist(X[s:s + chunk], Y)  # |x - y|; same order as the squared distance
            idx[s:s + chunk] = torch.topk(dist, k, dim=1, largest=False, sorted=True).indices
            del dist
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    idx.to(torch.int32).cpu().numpy().tofile(out)
    print(json.dumps({
        'engine': 'torch', 'device': torch.cuda.get_device_name(0), 'torch': torch.__version__,
        'seconds': min(times), 'firstRunSeconds': times[0], 'chunk': chunk,
    }))


def numpy_argkmin(x, y, k, chunk):
    t = time.perf_counter()
    yy = (y.astype(np.float64) ** 2).sum(1)
    idx = np.empty((x.shape[0], k), dtype=np.int64)
    for s in range(0, x.shape[0], chunk):
        xs = x[s:s + chunk].astype(np.float64)
        dist = (xs ** 2).sum(1)[:, None] + yy[None, :] - 2 * xs @ y.T.astype(np.float64)
        part = np.argpartition(dist, k, axis=1)[:, :k]
        order = np.take_along_axis(dist, part, 1).argsort(1, kind='stable')
        idx[s:s + chunk] = np.take_along_axis(part, order, 1)
    return idx, time.perf_counter() - t


if __name__ == '__main__':
    main()
