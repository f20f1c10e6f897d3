/**
 * The two forms a logged prediction takes before it is read back: the store's row (features as
 * JSON text, ready for a multi-row insert) and the spool's JSON line. Both are made at once from
 * one record, so the features are serialized once.
 */
import type { PredictionTable } from '../storage/schema.js';
import type { PredictionRecord } from './log-model.js';

/** A prediction as the store writes it: the `predictions` table's row. */
export type PredictionRow = PredictionTable;

/** Why a record cannot be logged; record() counts these and reports them in the log. */
export class MalformedRecord extends Error {}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// PostgreSQL text cannot hold NUL; a row with one would fail its whole batch on every retry.
function text(value: unknown, field: string, nullable: false): string;
function text(value: unknown, field: string, nullable: true): string | null;
function text(value: unknown, field: string, nullable: boolean): string | null {
  if ((value === null || value === undefined) && nullable) return null;
  if (typeof value !== 'string' || value === '' || value.includes('\0')) throw new MalformedRecord(`${field}: expected a non-empty string without NUL`);
  return value;
}

function finite(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new MalformedRecord(`${field}: expected a finite number`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Times sort as text in the store, so every one is stored in the same ISO-8601 UTC form. */
function isoTime(value: unknown): string {
  if (typeof value === 'string' && ISO_UTC.test(value)) return value;
  const t = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw new MalformedRecord('at: expected an ISO-8601 time');
  return new Date(t).toISOString();
}

/**
 * The row and the spool line (with its newline) of one record.
 * @throws MalformedRecord naming the field that cannot be stored
 */
export function encodePrediction(r: PredictionRecord): { row: PredictionRow; line: string } {
  if (!isObject(r)) throw new MalformedRecord('record: expected an object');
  const id = text(r.id, 'id', false);
  const model = text(r.model, 'model', false);
  // The store's column is a 32-bit integer, as registry versions are.
  if (!Number.isInteger(r.version) || r.version < 0 || r.version > 2_147_483_647) throw new MalformedRecord('version: expected an integer from 0 to 2147483647');
  if (!isObject(r.features)) throw new MalformedRecord('features: expected an object');
  if (r.entities != null && !isObject(r.entities)) throw new MalformedRecord('entities: expected an object or null');
  if (!isObject(r.output)) throw new MalformedRecord('output: expected an object');
  const { label, probability } = r.output;
  if (label != null && typeof label !== 'string' && !(typeof label === 'number' && Number.isFinite(label))) {
    throw new MalformedRecord('output.label: expected a number, a string or null');
  }
  const row: PredictionRow = {
    id,
    at: isoTime(r.at),
    model,
    version: r.version,
    stage: text(r.stage, 'stage', true),
    variant: text(r.variant, 'variant', true),
    features: JSON.stringify(r.features),
    entities: r.entities == null ? null : JSON.stringify(r.entities),
    value: finite(r.output.value, 'output.value'),
    label: label == null ? null : JSON.stringify(label),
    probability: probability == null ? null : finite(probability, 'output.probability'),
    latency_ms: finite(r.latencyMs, 'latencyMs'),
  };
  // Built by hand around the already serialized JSON, so features are not serialized twice.
  const line =
    `{"id":${JSON.stringify(row.id)},"at":"${row.at}","model":${JSON.stringify(row.model)},"version":${row.version},` +
    `"stage":${JSON.stringify(row.stage)},"variant":${JSON.stringify(row.variant)},"features":${row.features},` +
    `"entities":${row.entities ?? 'null'},"value":${row.value},"label":${row.label ?? 'null'},` +
    `"probability":${row.probability ?? 'null'},"latencyMs":${row.latency_ms}}\n`;
  return { row, line };
}

/**
 * The row of one spool line (without its newline).
 * @throws when the line is not a logged prediction
 */
export function decodePredictionLine(line: string): PredictionRow {
  const o = JSON.parse(line) as Record<string, unknown>;
  const { row } = encodePrediction({
    id: o.id as string,
    at: o.at as string,
    model: o.model as string,
    version: o.version as number,
    stage: o.stage as string | null,
    variant: o.variant as string | null,
    features: o.features as PredictionRecord['features'],
    entities: o.entities as PredictionRecord['entities'],
    output: { value: o.value as number, label: o.label as number | string | null, probability: o.probability as number | null },
    latencyMs: o.latencyMs as number,
  });
  return row;
}

/** A stored label (JSON text) as its value. */
export function decodeLabel(label: string | null): number | string | null {
  return label === null ? null : (JSON.parse(label) as number | string);
}
