/**
 * One error type for everything the formula layer rejects (bad points, dimension mismatches,
 * unknown symbols …), so callers can tell user mistakes from internal failures.
 */
export class FormulaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormulaError';
  }
}
