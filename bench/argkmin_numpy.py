#!/usr/bin/env python3
"""numpy / scikit-learn references for bench/argkmin.mjs (run by it, side by side with lazylinalg).

  argkmin POINTS N M D K OUT   x = first N rows, y = next M rows of POINTS (float64 row-major, D columns).
      numpy: row chunks of scipy's cdist (sqeuclidean) + argpartition, the k then sorted by distance (float64);
      scikit-learn: KDTree(y).query(x, k) (tree build included). Writes numpy's indices to OUT (int32, N×K)
      and prints {"numpy_s", "kdtree_s", "kdtree_agrees"}.
  logsumexp POINTS N M D EPS OUT
      the float64 reference log Σ_j exp(−|x_i − y_j|² / EPS) (row chunks, scipy.special.logsumexp) to OUT (float64).
"""
import json
import sys
import time

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

CHUNK = 1024


def load(path, n, m, d):
    p = np.fromfile(path, dtype=np.float64).reshape(n + m, d)
    return p[:n], p[n:]


def argkmin(x, y, k):
    out = np.empty((x.shape[0], k), dtype=np.int32)
    for s in range(0, x.shape[0], CHUNK):
        d2 = cdist(x[s:s + CHUNK], y, "sqeuclidean")
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(d2, part, axis=1), axis=1, kind="stable")
        out[s:s + CHUNK] = np.take_along_axis(part, order, axis=1)
    return out


def main():
    mode = sys.argv[1]
    path, n, m, d = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    x, y = load(path, n, m, d)
    if mode == "argkmin":
        k, out = int(sys.argv[6]), sys.argv[7]
        t0 = time.perf_counter()
        idx = argkmin(x, y, k)
        numpy_s = time.perf_counter() - t0
        idx.tofile(out)
        from sklearn.neighbors import KDTree
        t0 = time.perf_counter()
        _, kd = KDTree(y).query(x, k=k)
        kdtree_s = time.perf_counter() - t0
        agrees = float(np.mean(np.sort(kd, axis=1) == np.sort(idx, axis=1)))
        print(json.dumps({"numpy_s": numpy_s, "kdtree_s": kdtree_s, "kdtree_agrees": agrees}))
    elif mode == "logsumexp":
        eps, out = float(sys.argv[6]), sys.argv[7]
        res = np.empty(n)
        for s in range(0, n, CHUNK):
            res[s:s + CHUNK] = logsumexp(-cdist(x[s:s + CHUNK], y, "sqeuclidean") / eps, axis=1)
        res.tofile(out)
        print(json.dumps({"ok": True}))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
