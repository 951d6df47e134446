/**
 * The device-landmark preconditioner's core, emulated in JS (issue 5; src/preconditioners/device-landmarks.ts):
 * the unwhitened Woodbury core S = νK_mm + G with G = K̃_mnK̃_nm a float32 Gram (8-term float32 fma partials,
 * summed exactly) and the jitter that lifts the exact bottom of νK_mm + E, against the whitened form
 * B = K̃_nm L⁻ᵀ (L = chol(K_mm + δ·I) in float64, B by float32 substitution with fma, Math.fround after each
 * operation) with the core νI + BᵀB, and against B in float64. K̃ has float32 entries from float32 points; CG runs
 * on the dense float64 K to rtol 1e-6. Gaussian, points uniform in [0,1]³ (mulberry32(1)), farthest-point
 * landmarks, σ = 2·m^(−1/3) (landmark spacing σ/2, as m = 8192 at σ = 0.1), α = λ̂/ratio (ratio 1.65e7, as at
 * n = 2²⁰, σ = 0.1, α = 1e-3).
 *
 *   npm run build && node bench/whitening-emulation.mjs --n=8192 --m=512 [--delta=1e-6,1e-7] [--plain=400]
 */
import { Matrix, EigenvalueDecomposition } from 'ml-matrix';
import { mulberry32 } from '../dist/index.js';
const args = Object.fromEntries(process.argv.slice(2).map(a => a.replace(/^--/, '').split('=')));
const n = +(args.n ?? 8192), m = +(args.m ?? 512);
const sigma = +(args.sigma ?? Math.pow(m, -1 / 3) * 2);
const ratio = +(args.ratio ?? 1.65e7);
const rnd = mulberry32(1);
const X = new Float64Array(3 * n); for (let t = 0; t < 3 * n; t++) X[t] = rnd();
const X32 = Float32Array.from(X);
const g = 1 / (2 * sigma * sigma);
const k64 = (i, j) => { const dx = X[3*i]-X[3*j], dy = X[3*i+1]-X[3*j+1], dz = X[3*i+2]-X[3*j+2]; return Math.exp(-g*(dx*dx+dy*dy+dz*dz)); };
const f = Math.fround;
const k32 = (i, j) => { const dx = f(X32[3*i]-X32[3*j]), dy = f(X32[3*i+1]-X32[3*j+1]), dz = f(X32[3*i+2]-X32[3*j+2]); return f(Math.exp(f(-f(g)*f(f(dx*dx)+f(f(dy*dy)+f(dz*dz)))))); };
// dense K (float64)
const K = new Float64Array(n * n);
for (let i = 0; i < n; i++) for (let j = i; j < n; j++) { const v = k64(i, j); K[i*n+j] = v; K[j*n+i] = v; }
const matvec = (x) => { const y = new Float64Array(n); for (let i = 0; i < n; i++) { let s = 0; const r = i*n; for (let j = 0; j < n; j++) s += K[r+j]*x[j]; y[i] = s; } return y; };
// λ̂
let v = new Float64Array(n).fill(1); let lam = 0;
for (let it = 0; it < 30; it++) { const w = matvec(v); let nw = 0; for (const t of w) nw += t*t; nw = Math.sqrt(nw); lam = nw; for (let i = 0; i < n; i++) v[i] = w[i]/nw; }
const alpha = +(args.alpha ?? lam / ratio);
console.log(`n=${n} m=${m} sigma=${sigma.toFixed(4)} lambda_max=${lam.toFixed(1)} alpha=${alpha.toExponential(3)}`);
// farthest point landmarks (brute force)
const idx = new Int32Array(m); const dmin = new Float64Array(n).fill(Infinity); let cur = 0;
for (let a = 0; a < m; a++) { idx[a] = cur; let best = -1, bi = 0; for (let i = 0; i < n; i++) { const dx = X[3*i]-X[3*cur], dy = X[3*i+1]-X[3*cur+1], dz = X[3*i+2]-X[3*cur+2]; const d = dx*dx+dy*dy+dz*dz; if (d < dmin[i]) dmin[i] = d; if (dmin[i] > best) { best = dmin[i]; bi = i; } } cur = bi; }
// K_mn float32 (entries), K_mm float64
const Kt = new Float32Array(m * n); for (let a = 0; a < m; a++) for (let i = 0; i < n; i++) Kt[a*n+i] = k32(idx[a], i);
const Kmm = new Float64Array(m * m); for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) Kmm[a*m+b] = k64(idx[a], idx[b]);
function chol(A, mm) { const L = Float64Array.from(A); for (let j = 0; j < mm; j++) { let s = L[j*mm+j]; for (let k = 0; k < j; k++) s -= L[j*mm+k]**2; if (!(s > 0)) return null; const d = Math.sqrt(s); L[j*mm+j] = d; for (let i = j+1; i < mm; i++) { let t = L[i*mm+j]; for (let k = 0; k < j; k++) t -= L[i*mm+k]*L[j*mm+k]; L[i*mm+j] = t/d; } for (let k = j+1; k < mm; k++) L[j*mm+k] = 0; } return L; }
const eigMin = (A, mm) => { const e = new EigenvalueDecomposition(new Matrix(Array.from({length: mm}, (_, a) => Array.from(A.subarray(a*mm, a*mm+mm)))), { assumeSymmetric: true }); return Math.min(...e.realEigenvalues); };
// Gram emulating the device: float32 fma 8-term partials, compensated (exact float64 add of partials is close enough)
function gram32(A, rows, cols) { const G = new Float64Array(rows*rows); for (let a = 0; a < rows; a++) for (let b = a; b < rows; b++) { let s = 0; const ra = a*cols, rb = b*cols; for (let i = 0; i < cols; i += 8) { let p = 0; for (let k = i; k < Math.min(i+8, cols); k++) p = f(A[ra+k]*A[rb+k] + p); s += p; } G[a*rows+b] = s; G[b*rows+a] = s; } return G; }
function gram64(A, rows, cols) { const G = new Float64Array(rows*rows); for (let a = 0; a < rows; a++) for (let b = a; b < rows; b++) { let s = 0; const ra = a*cols, rb = b*cols; for (let i = 0; i < cols; i++) s += A[ra+i]*A[rb+i]; G[a*rows+b] = s; G[b*rows+a] = s; } return G; }
function pcg(Minv, label, maxit = 600) {
  const b = new Float64Array(n); for (let i = 0; i < n; i++) b[i] = rnd() - 0.5; let nb = Math.hypot(...b);
  const x = new Float64Array(n); const r = Float64Array.from(b); let z = Minv(r); const p = Float64Array.from(z); let rz = r.reduce((s, t, i) => s + t*z[i], 0);
  for (let it = 1; it <= maxit; it++) { const Kp = matvec(p); for (let i = 0; i < n; i++) Kp[i] += alpha*p[i]; let pKp = 0; for (let i = 0; i < n; i++) pKp += p[i]*Kp[i]; if (!(pKp > 0)) { console.log(label, 'breakdown pKp', it); return; } const a = rz/pKp; for (let i = 0; i < n; i++) { x[i] += a*p[i]; r[i] -= a*Kp[i]; } const rn = Math.hypot(...r)/nb; if (rn < 1e-6) { console.log(`${label}: ${it} iterations`); return it; } z = Minv(r); const rz2 = r.reduce((s, t, i) => s + t*z[i], 0); if (!(rz2 > 0)) { console.log(label, 'M indefinite at', it); return; } const be = rz2/rz; rz = rz2; for (let i = 0; i < n; i++) p[i] = z[i] + be*p[i]; }
  console.log(`${label}: not converged in ${maxit}`);
}
// Woodbury apply with stored factor A (rows×n, float32 or float64) and core Cholesky L
function woodbury(A, L, nu) { return (r) => { const y = new Float64Array(m); for (let a = 0; a < m; a++) { let s = 0; for (let i = 0; i < n; i++) s += A[a*n+i]*r[i]; y[a] = s; } for (let a = 0; a < m; a++) { let s = y[a]; for (let b = 0; b < a; b++) s -= L[a*m+b]*y[b]; y[a] = s/L[a*m+a]; } for (let a = m-1; a >= 0; a--) { let s = y[a]; for (let b = a+1; b < m; b++) s -= L[b*m+a]*y[b]; y[a] = s/L[a*m+a]; } const out = new Float64Array(n); for (let i = 0; i < n; i++) out[i] = r[i]; for (let a = 0; a < m; a++) { const c = y[a]; for (let i = 0; i < n; i++) out[i] -= A[a*n+i]*c; } for (let i = 0; i < n; i++) out[i] /= nu; return out; }; }
const nu = alpha;
pcg((r) => r, 'plain', +(args.plain ?? 0));
// (0) exact: float64 K_nm, S = νK_mm + G
{ const K64 = new Float64Array(m*n); for (let a = 0; a < m; a++) for (let i = 0; i < n; i++) K64[a*n+i] = k64(idx[a], i);
  const G = gram64(K64, m, n); const S = new Float64Array(m*m); for (let t = 0; t < m*m; t++) S[t] = nu*Kmm[t] + G[t];
  console.log('lambda_min(Kmm)', eigMin(Kmm, m).toExponential(3));
  const L = chol(S, m); if (!L) console.log('exact S does not factor'); else pcg(woodbury(K64, L, nu), 'float64 S-form'); }
// (1) device scheme: float32 K̃, G rounded, jitter from the exact bottom of νK_mm + E
{ const G32 = gram32(Kt, m, n); const Gx = gram64(Kt, m, n); const E = new Float64Array(m*m); for (let t = 0; t < m*m; t++) E[t] = nu*Kmm[t] + G32[t] - Gx[t];
  const bottom = eigMin(E, m); let maxG = 0; for (let a = 0; a < m; a++) maxG = Math.max(maxG, G32[a*m+a]);
  const j = Math.max(2*Math.max(0, -bottom), 1e-8*maxG);
  console.log(`S-form: bottom(νKmm+E)=${bottom.toExponential(3)} maxG=${maxG.toFixed(1)} jitter=${j.toExponential(3)}`);
  const S = new Float64Array(m*m); for (let t = 0; t < m*m; t++) S[t] = nu*Kmm[t] + G32[t]; for (let a = 0; a < m; a++) S[a*m+a] += j;
  const L = chol(S, m); pcg(woodbury(Kt, L, nu), 'float32 S-form (the device before whitening)'); }
// (2) whitened: L0 = chol(K_mm + δI) float64 → float32; B̃ᵀ = L0⁻¹ K̃_mn by float32 substitution (fma)
for (const delta of (args.delta ?? '1e-7').split(',').map(Number)) {
  const A = Float64Array.from(Kmm); let mx = 0; for (let a = 0; a < m; a++) mx = Math.max(mx, A[a*m+a]); for (let a = 0; a < m; a++) A[a*m+a] += delta*mx;
  const L0 = chol(A, m); if (!L0) { console.log('Kmm+δ does not factor', delta); continue; }
  const L0f = Float32Array.from(L0); const inv = new Float32Array(m); for (let a = 0; a < m; a++) inv[a] = f(1 / L0f[a*m+a]);
  const Bt = new Float32Array(m*n);
  for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) { let s = Kt[a*n+i]; for (let b = 0; b < a; b++) s = f(s - L0f[a*m+b]*Bt[b*n+i]); Bt[a*n+i] = f(s*inv[a]); }
  const G32 = gram32(Bt, m, n); const Gx = gram64(Bt, m, n);
  const E = new Float64Array(m*m); for (let t = 0; t < m*m; t++) E[t] = G32[t] - Gx[t]; for (let a = 0; a < m; a++) E[a*m+a] += nu;
  const bottom = eigMin(E, m);
  const j = 2*Math.max(0, -bottom);
  const S = new Float64Array(m*m); for (let t = 0; t < m*m; t++) S[t] = G32[t]; for (let a = 0; a < m; a++) S[a*m+a] += nu + j;
  console.log(`B-form δ=${delta}: bottom(νI+E)=${bottom.toExponential(3)} jitter=${j.toExponential(3)}`);
  const L = chol(S, m); pcg(woodbury(Bt, L, nu), `float32 B-form δ=${delta}`);
  // reference: B in float64 from the same float32 K̃ (isolates substitution rounding)
  const B64 = new Float64Array(m*n); for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) { let s = Kt[a*n+i]; for (let b = 0; b < a; b++) s -= L0[a*m+b]*B64[b*n+i]; B64[a*n+i] = s/L0[a*m+a]; }
  const Gb = gram64(B64, m, n); for (let a = 0; a < m; a++) Gb[a*m+a] += nu; pcg(woodbury(B64, chol(Gb, m), nu), `float64 B-form δ=${delta}`);
}

process.exit(0);
