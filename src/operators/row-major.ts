/** y = A·x for a row-major rows×cols matrix A: four partial sums per row keep the adds independent. */
export function rowMajorMatvec(a: Float64Array, rows: number, cols: number, x: Float64Array): Float64Array {
  const y = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let j = 0;
    for (; j + 3 < cols; j += 4) {
      s0 += a[base + j]! * x[j]!;
      s1 += a[base + j + 1]! * x[j + 1]!;
      s2 += a[base + j + 2]! * x[j + 2]!;
      s3 += a[base + j + 3]! * x[j + 3]!;
    }
    for (; j < cols; j++) s0 += a[base + j]! * x[j]!;
    y[i] = s0 + s1 + s2 + s3;
  }
  return y;
}
