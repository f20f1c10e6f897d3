import { CairnError } from './errors.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * Parses a duration such as `90s`, `15m`, `24h`, `7d` or `2w` into whole seconds.
 * Throws VALIDATION_FAILED naming `field` when the text is not a positive duration.
 */
export function parseDuration(text: string, field = 'duration'): number {
  const match = /^\s*(\d+)\s*([smhdw])\s*$/.exec(text);
  if (!match) {
    throw CairnError.validation([
      { path: field, reason: `expected a duration like 30m, 24h or 7d, got ${JSON.stringify(text)}` },
    ]);
  }
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  if (seconds <= 0) throw CairnError.validation([{ path: field, reason: 'must be greater than zero' }]);
  return seconds;
}

/** True when `text` parses as a duration. */
export function isDuration(text: string): boolean {
  return /^\s*\d+\s*[smhdw]\s*$/.test(text) && Number(/\d+/.exec(text)![0]) > 0;
}
