"""scikit-learn's side of bench/apps-sklearn.mjs (issue 17): on the data the .mjs side wrote (float64 binaries),
SpectralClustering(affinity='rbf', eigen_solver='arpack') at gamma = 1/(2σ²) — fit time and ARI against the truth —
and KernelRidge(kernel='rbf') at the same σ, α — fit + predict time and test RMSE. One run each (a run takes
~80–115 s at n = 20,000 on the 2-vCPU VM).

    python3 bench/apps_sklearn.py DIR      (DIR/cases.json lists the cases; writes DIR/sklearn.json)
    (scikit-learn: pip install scikit-learn)
"""
import json
import os
import sys
import time

import numpy as np
from sklearn.cluster import SpectralClustering
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import adjusted_rand_score


def load(d, name, cols):
    a = np.fromfile(os.path.join(d, name), dtype='<f8')
    return a.reshape(-1, cols) if cols > 1 else a


def cluster(d, c):
    X = load(d, c['points'], 2)
    truth = load(d, c['labels'], 1).astype(int)
    t0 = time.perf_counter()
    model = SpectralClustering(n_clusters=c['k'], affinity='rbf', gamma=1 / (2 * c['sigma'] ** 2),
                               eigen_solver='arpack', random_state=0, n_init=10).fit(X)
    seconds = time.perf_counter() - t0
    return {'name': c['name'], 'seconds': seconds, 'ari': adjusted_rand_score(truth, model.labels_)}


def ridge(d, c):
    X = load(d, c['x'], c['d'])
    y = load(d, c['y'], 1)
    T = load(d, c['t'], c['d'])
    yt = load(d, c['yt'], 1)
    t0 = time.perf_counter()
    model = KernelRidge(alpha=c['alpha'], kernel='rbf', gamma=1 / (2 * c['sigma'] ** 2)).fit(X, y)
    p = model.predict(T)
    seconds = time.perf_counter() - t0
    return {'name': c['name'], 'seconds': seconds, 'rmse': float(np.sqrt(np.mean((p - yt) ** 2)))}


def main():
    d = sys.argv[1]
    with open(os.path.join(d, 'cases.json')) as f:
        cases = json.load(f)
    out = []
    for c in cases:
        r = cluster(d, c) if c['kind'] == 'cluster' else ridge(d, c)
        print(json.dumps(r), file=sys.stderr, flush=True)
        out.append(r)
    with open(os.path.join(d, 'sklearn.json'), 'w') as f:
        json.dump(out, f)


if __name__ == '__main__':
    main()
