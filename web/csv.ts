/**
 * A small CSV reader for the demo page: numbers separated by commas, semicolons, tabs or spaces; an optional
 * header line (the first line, when it is not all numbers); '#' comments and blank lines skipped. Errors name
 * the line and column.
 */
export interface Table {
  readonly header: readonly string[] | undefined;
  readonly rows: readonly number[][];
}

export class CsvError extends Error {
  constructor(readonly line: number, readonly column: number, message: string) {
    super(`line ${line}, column ${column}: ${message}`);
  }
}

const SPLIT = /\s*[,;\t]\s*|\s+/;

export function parseCsv(text: string): Table {
  const lines = text.split(/\r?\n/);
  let header: string[] | undefined;
  const rows: number[][] = [];
  let width = 0;
  lines.forEach((raw, k) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const cells = line.split(SPLIT);
    const numbers = cells.map((c) => (c.trim() === '' ? NaN : Number(c)));
    if (rows.length === 0 && header === undefined && numbers.some((v) => Number.isNaN(v))) {
      header = cells;
      width = cells.length;
      return;
    }
    if (width === 0) width = cells.length;
    if (cells.length !== width) {
      throw new CsvError(k + 1, Math.min(cells.length, width) + 1, `expected ${width} columns, found ${cells.length}`);
    }
    numbers.forEach((v, c) => {
      if (!Number.isFinite(v)) throw new CsvError(k + 1, c + 1, `'${cells[c]}' is not a finite number`);
    });
    rows.push(numbers);
  });
  if (rows.length === 0) throw new CsvError(lines.length, 1, 'no data rows');
  return { header, rows };
}
