/**
 * Gradient fuzz (issue 16, "no silent wrong answers"): seeded random kernels (every built-in kernel, string and builder
 * formulas, y = x or its own y), dtypes, α, n (20–400), d (1–6) and cotangents; the claimed gradients of
 *   matvec  L = Σ Ȳ ∘ K V                 (∂/∂V, ∂/∂θ, ∂/∂x, ∂/∂y)
 *   solve   L = Σ X̄ ∘ (K + αI)⁻¹ B        (∂/∂B, ∂/∂α, ∂/∂θ, ∂/∂x; the adjoint system)
 *   gp      gpNegativeLogMarginalLikelihood (value, ∂/∂noise, ∂/∂θ; dense Cholesky route and SLQ route)
 *   logdet  logdet(K + αI) (SLQ value)
 * against five-point central differences of the float64 forward computation (K.toDense() of a float64 CPU kernel, a
 * dense Cholesky solve here), in a random direction and along one random coordinate, with the step per parameter
 * (a fraction of σ, of α, of the smallest pair distance for the points). The error is |claim − fd| over the gradient's
 * norm times the direction's; it is a bug when it exceeds the dtype's tolerance AND three times the difference
 * quotient's own error estimate (|five-point − three-point| + rounding). The SLQ route is stochastic: its value and
 * gradient must lie within 5 of its own standard errors (+1e-6 relative) of the dense ones.
 * Hostile cases (duplicate points under a kink, α = 0 on a singular K, σ = 1e-150 or 1e150, a zero cotangent) must give
 * finite numbers or throw a clear error — never NaN.
 *
 *   npm run build && node bench/grad-fuzz.mjs [--seed=S] [--cases=N] [--ops=matvec,solve,gp,logdet] [--hostile=0.15] [--verbose]
 *   EGL_PLATFORM=surfaceless node bench/grad-fuzz.mjs --backend=gpu --ops=matvec,solve --hostile=0   (claims on the GPU)
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import {
  cauchyKernel, gaussianKernel, gpNegativeLogMarginalLikelihood, kernelOperator, laplacianKernel, linearKernel, logdet,
  maternKernel, mulberry32, parameterDerivativeOperator, Pm, polynomialKernel, shutdownCpuPool, Vi, Vj,
} from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const seed = Number(flag('seed', 1));
const rand = mulberry32(seed);
const cases = Number(flag('cases', 60));
const ops = flag('ops', 'matvec,solve,gp,logdet').split(',');
const hostileShare = Number(flag('hostile', 0.15));
const verbose = args.includes('--verbose');
// --backend=gpu: the claimed gradients of matvec and solve on the GPU (float32; EGL_PLATFORM=surfaceless for llvmpipe)
const backend = flag('backend', 'cpu');
const on = (dtype) => (backend === 'gpu' ? { backend: 'gpu', dtype: 'float32' } : { backend: 'cpu', dtype });

const pick = (list) => list[Math.floor(rand() * list.length)];
const logUniform = (lo, hi) => Math.exp(Math.log(lo) + rand() * (Math.log(hi) - Math.log(lo)));
const intIn = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const points = (n, d) => Array.from({ length: n }, () => Array.from({ length: d }, () => rand()));
const block = (n, k) => new Matrix(n, k).apply(function (i, j) { this.set(i, j, 2 * rand() - 1); });
const dotAll = (a, b) => { const A = a.to1DArray(); const B = b.to1DArray(); let s = 0; for (let t = 0; t < A.length; t++) s += A[t] * B[t]; return s; };
const normF = (a) => Math.sqrt(dotAll(a, a));
const asBlock = (v) => (v instanceof Matrix ? v : Matrix.columnVector(Array.from(v)));

/** Each kernel: its parameters θ (the differentiable ones), whether K is PSD (solves, GP), whether it has a kink at r = 0. */
const scaled = (name, make, kink = false) => ({ name, theta: () => ({ sigma: logUniform(0.15, 2) }), psd: true, kink, make });
const KERNELS = [
  scaled('gaussian', (p, t, o) => gaussianKernel(p, { sigma: t.sigma, ...o })),
  scaled('laplacian', (p, t, o) => laplacianKernel(p, { sigma: t.sigma, ...o }), true),
  scaled('matern 0.5', (p, t, o) => maternKernel(p, { sigma: t.sigma, nu: 0.5, ...o }), true),
  scaled('matern 1.5', (p, t, o) => maternKernel(p, { sigma: t.sigma, nu: 1.5, ...o })),
  scaled('matern 2.5', (p, t, o) => maternKernel(p, { sigma: t.sigma, nu: 2.5, ...o })),
  scaled('cauchy', (p, t, o) => cauchyKernel(p, { sigma: t.sigma, ...o })),
  {
    name: 'polynomial', theta: () => ({ gamma: logUniform(0.1, 2), coef0: logUniform(0.1, 2), degree: intIn(1, 3) }), psd: true, fixed: ['degree'],
    make: (p, t, o) => polynomialKernel(p, { gamma: t.gamma, coef0: t.coef0, degree: t.degree, ...o }),
  },
  { name: 'linear', theta: () => ({}), psd: true, make: (p, _t, o) => linearKernel(p, o) },
  {
    name: 'string formula s, c', theta: () => ({ s: logUniform(0.2, 1.5), c: logUniform(0.05, 1) }), psd: true, formula: true,
    make: (p, t, o) => kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2)) + c * exp(-sqnorm2(x - y))', { x: Vi(p), y: Vj(o.y ?? p), s: t.s, c: t.c }, formulaOptions(o)),
  },
  {
    name: 'string formula rational', theta: () => ({ a: logUniform(0.5, 3), s: logUniform(0.2, 1.5) }), psd: true, formula: true,
    make: (p, t, o) => kernelOperator('(1 + sqnorm2(x - y) / (2 * a * s^2))^(-a)', { x: Vi(p), y: Vj(o.y ?? p), a: t.a, s: t.s }, formulaOptions(o)),
  },
  {
    name: 'builder formula g (symmetric: false)', theta: () => ({ g: logUniform(0.3, 5) }), psd: true, formula: true, twoRoles: true,
    make: (p, t, o) => {
      const [X, Y] = [Vi(p), Vj(o.y ?? p)];
      return kernelOperator(X.sub(Y).sqnorm2().mul(Pm(t.g, 'g')).neg().exp().mul(X.dot(Y).add(2)), { ...formulaOptions(o), symmetric: false });
    },
  },
];
function formulaOptions(o) { const { y: _y, ...rest } = o; return { ...rest, ...(o.y === undefined ? { symmetric: true } : {}) }; }

/** Five-point central difference of f at 0, with an error estimate (|five − three point| + rounding). */
async function difference(f, h) {
  const [a, b, c, e] = [await f(-2 * h), await f(-h), await f(h), await f(2 * h)];
  const five = (a - 8 * b + 8 * c - e) / (12 * h);
  const three = (c - b) / (2 * h);
  const rounding = 1e3 * 2.2e-16 * Math.max(Math.abs(a), Math.abs(b), Math.abs(c), Math.abs(e)) / h;
  return { value: five, error: Math.abs(five - three) + rounding };
}

/** The smallest distance between two points of p, or (q given) between a point of p and one of q: where kinks lie. */
function minPairDistance(p, q) {
  let m = Infinity;
  for (let i = 0; i < p.length; i++) for (let j = q ? 0 : i + 1; j < (q ?? p).length; j++) {
    let s = 0;
    for (let k = 0; k < p[i].length; k++) s += (p[i][k] - (q ?? p)[j][k]) ** 2;
    m = Math.min(m, Math.sqrt(s));
  }
  return m;
}

const CPU64 = { backend: 'cpu', dtype: 'float64', denseCache: 'never' };
const tally = { cases: 0, checks: 0, honestErrors: [], bugs: [], excused: [], worst: {} };
let current;

function record(what, claim, fd, norm, tol) {
  tally.checks++;
  const diff = Math.abs(claim - fd.value);
  const err = diff / Math.max(norm, 1e-300);
  const key = `${current.op} ${current.dtype} ${what.split(' ')[0]}`;
  tally.worst[key] = Math.max(tally.worst[key] ?? 0, Number.isFinite(err) ? err : Infinity);
  if (!Number.isFinite(claim) || (err > tol && diff > 3 * fd.error)) {
    tally.bugs.push({ ...current, what, claim, fd: fd.value, fdError: fd.error, err: +err.toExponential(2) });
  } else if (err > tol) tally.excused.push({ ...current, what, err: +err.toExponential(2), fdError: +(fd.error / Math.max(norm, 1e-300)).toExponential(2) });
}

/** Checks g·direction against the difference quotient of `loss` along it; g and the direction are Matrices. */
async function checkDirection(what, g, direction, loss, h, tol) {
  const fd = await difference(loss, h);
  record(what, dotAll(g, direction), fd, normF(g) * normF(direction), tol);
}

function unitCoordinate(rows, cols) {
  const E = Matrix.zeros(rows, cols);
  E.set(Math.floor(rand() * rows), Math.floor(rand() * cols), 1);
  return E;
}

const move = (p, U, h) => p.map((row, i) => row.map((v, k) => v + h * U.get(i, k)));

/** Random U and one coordinate: the point gradient of `loss(p)` against G (n×d). */
async function checkPoints(what, G, p, lossAt, tol, other) {
  const step = Math.min(1e-4, 0.02 * minPairDistance(p), other ? 0.02 * minPairDistance(p, other) : Infinity);
  for (const [label, U] of [['random', block(p.length, p[0].length)], ['coordinate', unitCoordinate(p.length, p[0].length)]]) {
    await checkDirection(`${what} (${label})`, G, U, (h) => lossAt(move(p, U, h)), step, tol);
  }
}

/**
 * Σ_c |w_c|ᵀ |∂K/∂θ| |v_c| (dense, float64): the scale of the terms whose sum is the θ-gradient of wᵀ K v. Where they
 * cancel (a sum 3·10⁶ times smaller than this in a float32 solve), float32 products cannot give the gradient to 2e-3:
 * the float32 check allows 8·ε₃₂ of this scale besides.
 */
async function termScale(K64, name, W, V) {
  const D = await parameterDerivativeOperator(K64, name).toDense();
  return dotAll(W.clone().abs(), D.abs().mmul(V.clone().abs()));
}

async function checkParams(kernel, theta, params, lossAt, tol, float32Terms) {
  const names = Object.keys(theta).filter((k) => !(kernel.fixed ?? []).includes(k));
  const got = Object.keys(params).sort().join(',');
  if (got !== names.slice().sort().join(',')) tally.bugs.push({ ...current, what: 'parameter names', claim: got, expected: names.join(',') });
  for (const name of names) {
    const fd = await difference((h) => lossAt({ ...theta, [name]: theta[name] + h }), 1e-3 * theta[name]);
    const scale = Math.max(Math.abs(params[name]), Math.abs(fd.value));
    const rounding = float32Terms ? 8 * 6e-8 * (await float32Terms(name)) : 0;
    record(`θ ${name}`, params[name], fd, scale, tol + rounding / scale);
  }
}

const dense = async (K) => (await K.toDense());

async function matvecCase(kernel, dtype, n, d) {
  const cross = rand() < 0.4;
  const m = cross ? intIn(10, 300) : n;
  const x = points(n, d);
  const y = cross ? points(m, d) : undefined;
  const theta = kernel.theta();
  const k = pick([1, 1, 2, 3]);
  const V = block(m, k);
  const Ybar = block(n, k);
  const options = (o) => ({ ...o, ...(y ? { y } : {}) });
  const K = kernel.make(x, theta, options(on(dtype)));
  const vector = k === 1 && rand() < 0.5;
  const { y: Y, vjp } = await K.matvecWithVjp(vector ? V.getColumn(0) : V);
  const g = await vjp(vector ? Ybar.getColumn(0) : Ybar);
  const loss = async (p, q, t, W = V) => dotAll(Ybar, (await dense(kernel.make(p, t, { ...CPU64, ...(q ? { y: q } : {}) }))).mmul(W));
  const tol = dtype === 'float64' ? 1e-6 : 2e-3;
  current.k = k;
  const forward = { value: await loss(x, y, theta), error: 0 };
  record('value', dotAll(Ybar, asBlock(Y)), forward, Math.max(Math.abs(forward.value), normF(Ybar) * normF(V)), dtype === 'float64' ? 1e-12 : 1e-5);
  const U = block(m, k);
  await checkDirection('∂/∂v', asBlock(g.v), U, (h) => loss(x, y, theta, V.clone().add(U.clone().mul(h))), 1e-3, dtype === 'float64' ? 1e-10 : 1e-5);
  const terms32 = dtype === 'float32' ? (name) => termScale(kernel.make(x, theta, { ...CPU64, ...(y ? { y } : {}) }), name, Ybar, V) : undefined;
  await checkParams(kernel, theta, g.params, (t) => loss(x, y, t), tol, terms32);
  const twoRoles = !cross && !K.symmetric;
  if (cross || twoRoles) {
    if (!g.y) { tally.bugs.push({ ...current, what: 'missing g.y' }); return; }
    if (cross) {
      await checkPoints('∂/∂x', g.x, x, (p) => loss(p, y, theta), tol, y);
      await checkPoints('∂/∂y', g.y, y, (q) => loss(x, q, theta), tol, x);
    } else {
      // the same points in both roles: the total derivative is g.x + g.y
      await checkPoints('∂/∂x (both roles)', g.x.clone().add(g.y), x, (p) => loss(p, undefined, theta), tol);
    }
  } else {
    if (g.y !== undefined) tally.bugs.push({ ...current, what: 'g.y present for a symmetric K' });
    await checkPoints('∂/∂x', g.x, x, (p) => loss(p, undefined, theta), tol);
  }
}

/** Σ X̄ ∘ (K + αI)⁻¹ B by a dense float64 Cholesky factorisation. */
async function denseSolveLoss(kernel, p, t, alpha, B, Xbar) {
  const A = await dense(kernel.make(p, t, CPU64));
  for (let i = 0; i < A.rows; i++) A.set(i, i, A.get(i, i) + alpha);
  const C = new CholeskyDecomposition(A);
  if (!C.isPositiveDefinite()) throw new Error('dense reference: K + αI is not positive definite');
  return dotAll(Xbar, C.solve(B));
}

async function solveCase(kernel, dtype, n, d) {
  const x = points(n, d);
  const theta = kernel.theta();
  const alpha = dtype === 'float64' ? logUniform(1e-3, 1) : logUniform(0.1, 1);
  const k = pick([1, 1, 2]);
  const B = block(n, k);
  const Xbar = block(n, k);
  current.alpha = +alpha.toPrecision(3);
  current.k = k;
  const K = kernel.make(x, theta, on(dtype));
  const vector = k === 1 && rand() < 0.5;
  const { x: X, vjp } = await K.solveWithVjp(vector ? B.getColumn(0) : B, alpha, { rtol: dtype === 'float64' ? 1e-12 : 1e-6 });
  const g = await vjp(vector ? Xbar.getColumn(0) : Xbar);
  const loss = (p, t, a, Bm = B) => denseSolveLoss(kernel, p, t, a, Bm, Xbar);
  // (K + αI)⁻¹ amplifies the float32 rounding of K's products by up to ‖K‖/α
  const tol = dtype === 'float64' ? 1e-6 : 2e-3;
  const forward = { value: await loss(x, theta, alpha), error: 0 };
  // the scales: ‖X̄‖·‖X‖ (a value that cancels to far below it carries X's error at that size: seed 15, case 81)
  record('value', dotAll(Xbar, asBlock(X)), forward, Math.max(Math.abs(forward.value), normF(Xbar) * normF(asBlock(X)), 1e-300), dtype === 'float64' ? 1e-8 : 1e-3);
  const U = block(n, k);
  await checkDirection('∂/∂b', asBlock(g.b), U, (h) => loss(x, theta, alpha, B.clone().add(U.clone().mul(h))), 1e-3, tol);
  const fdAlpha = await difference((h) => loss(x, theta, alpha + h), 1e-3 * alpha);
  record('∂/∂α', g.alpha, fdAlpha, Math.max(Math.abs(g.alpha), Math.abs(fdAlpha.value), normF(asBlock(g.b)) * normF(asBlock(X))), tol); // −λᵀx: ‖λ‖·‖x‖
  const terms32 = dtype === 'float32' ? (name) => termScale(kernel.make(x, theta, CPU64), name, asBlock(g.b), asBlock(X)) : undefined;
  await checkParams(kernel, theta, g.params, (t) => loss(x, t, alpha), tol, terms32);
  const G = K.symmetric ? g.x : g.x.clone().add(g.y);
  await checkPoints('∂/∂x', G, x, (p) => loss(p, theta, alpha), tol);
}

/** The SLQ preconditioners with an exact log det (and the rank of the low-rank ones, random). */
const SLQ_PRECONDITIONERS = ['auto', 'none', 'pivoted-cholesky', 'nystrom', 'jacobi'];
const slqRank = (n, p) => (p === 'pivoted-cholesky' || p === 'nystrom' ? { preconditionerOptions: { rank: intIn(1, Math.min(40, n - 1)) } } : {});

/** The GP NLL of y under K(θ) + noise·I, densely in float64. */
async function denseNll(kernel, p, t, noise, y) {
  const A = await dense(kernel.make(p, t, CPU64));
  for (let i = 0; i < A.rows; i++) A.set(i, i, A.get(i, i) + noise);
  const C = new CholeskyDecomposition(A);
  if (!C.isPositiveDefinite()) throw new Error('dense reference: K + noise·I is not positive definite');
  const L = C.lowerTriangularMatrix;
  let ld = 0;
  for (let i = 0; i < A.rows; i++) ld += 2 * Math.log(L.get(i, i));
  const Y = Matrix.columnVector(y);
  return 0.5 * (dotAll(Y, C.solve(Y)) + ld + A.rows * Math.log(2 * Math.PI));
}

async function gpCase(kernel, n, d) {
  const x = points(n, d);
  const theta = kernel.theta();
  const noise = logUniform(1e-2, 1);
  const y = Array.from({ length: n }, () => 2 * rand() - 1);
  const method = pick(['cholesky', 'slq']);
  current.method = method;
  current.noise = +noise.toPrecision(3);
  const K = kernel.make(x, theta, { backend: 'cpu', dtype: 'float64' });
  const preconditioner = pick(SLQ_PRECONDITIONERS);
  if (method === 'slq') current.preconditioner = preconditioner;
  const r = await gpNegativeLogMarginalLikelihood(K, y, noise, method === 'slq' ? { method, probes: 64, probeRtol: 1e-8, seed: intIn(0, 1000), preconditioner, ...slqRank(n, preconditioner) } : { method });
  const lossAt = (t, s = noise) => denseNll(kernel, x, t, s, y);
  const value = await lossAt(theta);
  const fdNoise = await difference((h) => lossAt(theta, noise + h), 1e-3 * noise);
  const names = Object.keys(theta).filter((q) => !(kernel.fixed ?? []).includes(q));
  const refs = { noise: fdNoise };
  for (const name of names) refs[name] = await difference((h) => lossAt({ ...theta, [name]: theta[name] + h }), 1e-3 * theta[name]);
  const gotNames = Object.keys(r.grad).filter((q) => q !== 'noise').sort().join(',');
  if (gotNames !== names.slice().sort().join(',')) tally.bugs.push({ ...current, what: 'gp parameter names', claim: gotNames, expected: names.join(',') });
  if (method === 'cholesky') {
    record('value', r.value, { value, error: 0 }, Math.abs(value), 1e-9);
    for (const [name, fd] of Object.entries(refs)) record(`θ ${name}`, r.grad[name], fd, Math.max(Math.abs(r.grad[name]), Math.abs(fd.value)), 1e-6);
    return;
  }
  // stochastic: within 5 standard errors (+1e-6 relative) of the dense value
  const within = (what, got, ref, se) => {
    tally.checks++;
    const ok = Number.isFinite(got) && Math.abs(got - ref) <= 5 * se + 1e-6 * Math.abs(ref) + 1e-12;
    const key = `gp-slq ${what.split(' ')[0]} (in stderr)`;
    tally.worst[key] = Math.max(tally.worst[key] ?? 0, Math.abs(got - ref) / Math.max(se, 1e-300));
    if (!ok) tally.bugs.push({ ...current, what, claim: got, ref, stderr: se });
    else if (Math.abs(got - ref) > 5 * se) tally.excused.push({ ...current, what, claim: got, ref, stderr: se });
  };
  within('value', r.value, value, r.stderr.value);
  for (const [name, fd] of Object.entries(refs)) within(`θ ${name}`, r.grad[name], fd.value, r.stderr[name] + 3 * fd.error);
}

async function logdetCase(kernel, n, d) {
  const x = points(n, d);
  const theta = kernel.theta();
  const alpha = logUniform(1e-2, 1);
  current.alpha = +alpha.toPrecision(3);
  const K = kernel.make(x, theta, { backend: 'cpu', dtype: 'float64' });
  const preconditioner = pick(SLQ_PRECONDITIONERS);
  current.preconditioner = preconditioner;
  const r = await logdet(K.shift(alpha), { probes: 32, seed: intIn(0, 1000), preconditioner, ...slqRank(n, preconditioner) });
  const A = await dense(kernel.make(x, theta, CPU64));
  for (let i = 0; i < n; i++) A.set(i, i, A.get(i, i) + alpha);
  const L = new CholeskyDecomposition(A).lowerTriangularMatrix;
  let ref = 0;
  for (let i = 0; i < n; i++) ref += 2 * Math.log(L.get(i, i));
  tally.checks++;
  const dev = Math.abs(r.value - ref) / r.stderr;
  tally.worst['logdet (in stderr)'] = Math.max(tally.worst['logdet (in stderr)'] ?? 0, dev);
  if (!(Math.abs(r.value - ref) <= 5 * r.stderr + 1e-9 * Math.abs(ref))) tally.bugs.push({ ...current, what: 'logdet', claim: r.value, ref, stderr: r.stderr });
  else if (dev > 5) tally.excused.push({ ...current, what: 'logdet', claim: r.value, ref, stderr: r.stderr });
}

/** Every number in a result, recursively. */
function numbers(v, out = []) {
  if (typeof v === 'number') out.push(v);
  else if (v instanceof Matrix) out.push(...v.to1DArray());
  else if (ArrayBuffer.isView(v)) out.push(...v);
  else if (Array.isArray(v)) v.forEach((t) => numbers(t, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((t) => numbers(t, out));
  return out;
}

/** Hostile inputs: finite results or a clear error, never NaN. */
async function hostileCase(n, d) {
  const kind = pick(['duplicates-kink', 'singular-alpha0', 'tiny-sigma', 'huge-sigma', 'zero-cotangent', 'far-points']);
  current.kind = kind;
  const kernel = kind === 'duplicates-kink' ? pick(KERNELS.filter((k) => k.kink)) : pick(KERNELS.filter((k) => k.theta().sigma !== undefined));
  current.kernel = kernel.name;
  let x = points(n, d);
  if (kind === 'duplicates-kink' || kind === 'singular-alpha0') x = x.map((p, i) => (i % 3 === 1 ? x[i - 1].slice() : p));
  if (kind === 'far-points') x = x.map((p) => p.map((v) => 1e8 + v));
  const theta = kernel.theta();
  if (kind === 'tiny-sigma') theta.sigma = 1e-150;
  if (kind === 'huge-sigma') theta.sigma = 1e150;
  const dtype = pick(['float64', 'float32']);
  current.dtype = dtype;
  let K;
  try {
    K = kernel.make(x, theta, on(dtype));
  } catch (e) {
    tally.honestErrors.push({ kind, kernel: kernel.name, label: 'construction', message: String(e?.message ?? e).slice(0, 160) });
    return;
  }
  const b = Float64Array.from({ length: n }, () => 2 * rand() - 1);
  const bar = kind === 'zero-cotangent' ? new Float64Array(n) : Float64Array.from({ length: n }, () => 2 * rand() - 1);
  const results = [];
  const attempt = async (label, f) => {
    try {
      results.push([label, await f()]);
    } catch (e) {
      const message = String(e?.message ?? e);
      if (!(e instanceof Error) || message.length < 10 || /undefined|NaN|null/.test(message.slice(0, 40)) && !/converge/.test(message)) {
        tally.bugs.push({ ...current, what: `${label}: unclear error`, message });
      } else tally.honestErrors.push({ kind, kernel: kernel.name, label, message: message.slice(0, 160) });
    }
  };
  await attempt('matvec vjp', async () => (await K.matvecWithVjp(b)).vjp(bar));
  const alpha = kind === 'singular-alpha0' ? 0 : 0.1;
  await attempt('solve vjp', async () => (await K.solveWithVjp(b, alpha, { rtol: 1e-10, maxiter: 4 * n })).vjp(bar));
  if (kind !== 'singular-alpha0') await attempt('gp', () => gpNegativeLogMarginalLikelihood(K, b, 0.1));
  for (const [label, r] of results) {
    const bad = numbers(r).filter((v) => !Number.isFinite(v));
    if (bad.length) tally.bugs.push({ ...current, what: `${label}: non-finite gradient entries`, count: bad.length, sample: bad.slice(0, 3).map(String) });
    if (kind === 'zero-cotangent' && label !== 'gp' && numbers(r.params ?? {}).concat(numbers(r.x ?? [])).some((v) => v !== 0)) {
      tally.bugs.push({ ...current, what: `${label}: zero cotangent gave a nonzero gradient` });
    }
  }
}

for (let t = 0; t < cases; t++) {
  const op = pick(ops);
  const n = intIn(20, op === 'matvec' ? 400 : 250);
  const d = intIn(1, 6);
  if (rand() < hostileShare) {
    current = { t, op: 'hostile', n, d };
    tally.cases++;
    await hostileCase(Math.min(n, 120), d);
    continue;
  }
  const kernel = pick(op === 'matvec' ? KERNELS : KERNELS.filter((k) => k.psd));
  const drawn = op === 'matvec' || op === 'solve' ? pick(['float64', 'float64', 'float32']) : 'float64';
  const dtype = backend === 'gpu' && (op === 'matvec' || op === 'solve') ? 'float32' : drawn;
  current = { t, op, kernel: kernel.name, dtype, n, d };
  tally.cases++;
  const t0 = performance.now();
  try {
    if (op === 'matvec') await matvecCase(kernel, dtype, n, d);
    else if (op === 'solve') await solveCase(kernel, dtype, n, d);
    else if (op === 'gp') await gpCase(kernel, n, d);
    else await logdetCase(kernel, n, d);
  } catch (e) {
    tally.honestErrors.push({ ...current, message: String(e?.message ?? e).slice(0, 200) });
  }
  if (verbose) console.error(JSON.stringify({ ...current, ms: Math.round(performance.now() - t0), bugs: tally.bugs.length }));
}
const worst = Object.fromEntries(Object.entries(tally.worst).map(([k, v]) => [k, +v.toExponential(2)]));
console.log(JSON.stringify({ seed, cases: tally.cases, checks: tally.checks, bugCount: tally.bugs.length, bugs: tally.bugs, excusedByDifferenceError: tally.excused, honestErrors: tally.honestErrors, worst }, null, 1));
await shutdownCpuPool();
process.exit(tally.bugs.length ? 1 : 0);
