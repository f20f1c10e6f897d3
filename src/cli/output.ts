/**
 * What the CLI prints: raw JSON with `--json` (for scripts), otherwise aligned tables and
 * key-value blocks for people. Results go to stdout; errors, hints and progress to stderr, so a
 * pipe only ever receives the result.
 */
import { CairnError, exitCodeFor, type FieldError } from '../core/errors.js';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/** One table cell or value as text: `-` for nothing, lists joined, objects as compact JSON. */
export function formatValue(value: unknown): string {
  let text: string;
  if (value === null || value === undefined || value === '') text = '-';
  else if (Array.isArray(value)) text = value.length === 0 ? '-' : value.map(formatValue).join(', ');
  else if (typeof value === 'object') text = Object.keys(value).length === 0 ? '-' : JSON.stringify(value);
  else text = String(value);
  // A line break or tab inside a cell would break the alignment of every row after it.
  return text.replace(/[\r\n\t]+/g, ' ');
}

/** A plain text table: a header row, then one aligned row per item; numbers align right. */
export function formatTable<T>(rows: T[], columns: Column<T>[], empty = '(none)'): string {
  if (rows.length === 0) return empty;
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const text = cells.map((r) => r.map(formatValue));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...text.map((r) => r[i]!.length)));
  const numeric = columns.map((_, i) => cells.every((r) => typeof r[i] === 'number' || r[i] === null || r[i] === undefined));
  const line = (values: string[], alignNumbers: boolean) =>
    values
      .map((v, i) => (alignNumbers && numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header), false), ...text.map((r) => line(r, true))].join('\n');
}

/** `key: value` lines with the values aligned. */
export function formatKeyValues(entries: [string, unknown][]): string {
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${formatValue(v)}`).join('\n');
}

/** Prints a result: its JSON when `json`, else the human rendering. */
export function printResult(json: boolean | undefined, result: unknown, human: () => string): void {
  process.stdout.write(`${json ? JSON.stringify(result, null, 2) : human()}\n`);
}

/** A remark for the person at the terminal (never part of the result). */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Tells how to fetch the next page when a list was cut. */
export function notePage(page: { nextCursor: string | null }): void {
  if (page.nextCursor) note(`(more: repeat with --cursor ${page.nextCursor})`);
}

/**
 * Prints an error the way every command does: `error: <message>`, then each bad field on its own
 * line. Returns the process exit code: exitCodeFor(code) for CairnErrors (2 for the caller's
 * mistakes, 1 for server trouble, 78 for bad configuration), 1 for anything else.
 */
export function printError(err: unknown): number {
  if (!(err instanceof CairnError)) {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const lines = [`error: ${err.message}`];
  const fields = err.details.errors;
  if (Array.isArray(fields)) {
    for (const f of fields as FieldError[]) lines.push(`  ${f.path}: ${f.reason}`);
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  return exitCodeFor(err.code);
}
