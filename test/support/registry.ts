/**
 * Fixtures of the registry tests: a small feature store (two features, one dataset version), runs
 * that carry an ONNX model the way a trainer leaves it, and cards of every degree of completeness.
 */
import { Readable } from 'node:stream';
import onnxProto from 'onnx-proto';
import type { Actor } from '../../src/identity/index.js';
import { exportOnnx, type LinearModel } from '../../src/ml/index.js';
import type { CardInput } from '../../src/registry/index.js';
import type { Platform } from '../../src/server/platform.js';
import type { Run } from '../../src/tracking/index.js';
import { makeFlights, writeCsv } from './fixtures.js';

export const ROOT: Actor = { user: 'root', role: 'admin', tokenId: null };

/** The least a registration takes. */
export const MINIMAL_CARD: CardInput = {
  description: 'Predicts whether a flight departs more than 15 minutes late.',
  intendedUse: 'Ranking flights by delay risk for the operations dashboard.',
  trainingData: 'January 2001 US domestic flights (point-in-time features).',
};

/** A card the Production gate accepts. */
export const COMPLETE_CARD: CardInput = {
  ...MINIMAL_CARD,
  limitations: ['Trained on one month of 2001 data.', 'Knows only the airports it saw.'],
  ethicalConsiderations: [{ name: 'Staff scheduling pressure', mitigationStrategy: 'Used as a signal, never as the sole basis of a decision.' }],
  owners: [{ name: 'Ada', contact: 'ada@example.com' }],
  license: 'Apache-2.0',
  outOfScopeUses: 'Passenger-facing delay promises.',
};

/** A linear model on the fixture's two features, as a trainer would export it. */
export function linearModel(): LinearModel {
  return {
    type: 'linear',
    signature: {
      task: 'binary',
      label: 'delayed',
      inputs: [
        { name: 'dep_hour', kind: 'numeric', min: 0, max: 23 },
        { name: 'distance', kind: 'numeric', min: 100, max: 2100 },
      ],
    },
    intercept: -0.4,
    terms: [
      { kind: 'numeric', mean: 12, std: 6, weight: 0.3 },
      { kind: 'numeric', mean: 1000, std: 500, weight: -0.1 },
    ],
  };
}

export function linearOnnx(): Uint8Array {
  return exportOnnx(linearModel());
}

export interface SeededStore {
  dataset: string;
  features: string[];
  csv: string;
}

/**
 * Defines entity `flight`, source `flights` (a CSV in `dir`), features `dep_hour@1` and
 * `distance@1`, and builds dataset `flights_jan@1` with the label `delayed`.
 */
export async function seedFeatureStore(platform: Platform, dir: string): Promise<SeededStore> {
  const csv = writeCsv(dir, 'flights.csv', makeFlights({ days: 12, stepMinutes: 30 }));
  const defs = platform.features.definitions;
  await defs.createEntity({ name: 'flight', joinKeys: ['flight_id'] }, ROOT);
  await defs.createSource({ name: 'flights', path: csv, timestampColumn: 'date' }, ROOT);
  await defs.createFeature({ name: 'dep_hour', entity: 'flight', source: 'flights', valueType: 'int64', expression: 'hour(date)', description: 'hour of departure' }, ROOT);
  await defs.createFeature({ name: 'distance', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'distance' }, ROOT);
  await platform.features.trainingSets.build(
    {
      name: 'flights_jan',
      entityTable: { query: `SELECT flight_id, date AS t, delay > 15 AS delayed FROM read_csv('${csv}')` },
      eventTimeColumn: 't',
      features: ['dep_hour@1', 'distance@1'],
    },
    ROOT,
  );
  return { dataset: 'flights_jan@1', features: ['dep_hour@1', 'distance@1'], csv };
}

/**
 * A finished run trained (by hand) on the seeded dataset, with `model/model.onnx`,
 * `model/signature.json` and `model/profile.json`, final metrics and a code version.
 */
export async function handmadeRun(platform: Platform, options: { experiment?: string; onnx?: Uint8Array; folder?: string; end?: boolean } = {}): Promise<Run> {
  const t = platform.tracking;
  const experiment = options.experiment ?? 'registry-tests';
  await t.getExperiment(experiment).catch(() => t.createExperiment({ name: experiment }, ROOT));
  const run = await t.createRun(
    {
      experiment,
      params: { trainer: 'linear', l2: 0.5 },
      inputs: { dataset: { ref: 'flights_jan@1' }, features: ['dep_hour@1', 'distance@1'] },
      source: { command: 'handmade', codeVersion: 'abc123' },
    },
    ROOT,
  );
  const folder = options.folder ?? 'model';
  const files: [string, Uint8Array | string][] = [
    [`${folder}/model.onnx`, options.onnx ?? linearOnnx()],
    [`${folder}/signature.json`, JSON.stringify(linearModel().signature)],
    [`${folder}/profile.json`, JSON.stringify({ rows: 576, inputs: [] })],
  ];
  for (const [p, content] of files) await t.putArtifact(run.id, p, Readable.from([Buffer.from(content)]), ROOT);
  await t.logBatch(
    run.id,
    {
      metrics: [
        { key: 'valid_auc', value: 0.71 },
        { key: 'valid_log_loss', value: 0.52 },
        { key: 'train_auc', value: 0.74 },
        { key: 'fit_seconds', value: 0.3 },
      ],
    },
    ROOT,
  );
  return options.end === false ? run : t.endRun(run.id, {}, ROOT);
}

/** An ONNX model from "another framework": Y = X + X, no Cairn metadata, producer skl2onnx. */
export function foreignOnnx(): Uint8Array {
  const { onnx } = onnxProto;
  const tensor = (name: string) => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 2 }] } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'skl2onnx',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'double', node: [{ opType: 'Add', input: ['X', 'X'], output: ['Y'], name: 'add' }], input: [tensor('X')], output: [tensor('Y')] },
  });
  return onnx.ModelProto.encode(model).finish();
}
