import fs from 'node:fs';
import path from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import { CairnError, ValidationErrors } from '../core/errors.js';
import type { EventBus } from '../core/event-bus.js';
import { newId } from '../core/ids.js';
import { decodeCursor, pageSize, toPage, type Page } from '../core/pagination.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import { isUniqueViolation } from '../storage/db.js';
import { requireRole, type Actor } from '../identity/index.js';
import type { FeatureDefinitions, FeatureUseInput, ResolvedUse } from './definitions.js';
import type { DatasetVersion } from './model.js';
import type { OfflineEngine } from './offline-engine.js';
import { COLUMN_PATTERN, COLUMN_RULE, checkName, formatRef } from './refs.js';
import type { FeatureStore } from './store.js';

export interface BuildTrainingSetInput {
  /** The dataset this build becomes a version of. */
  name: string;
  /** Entity rows: keys, event times and any columns to pass through (labels). */
  entityTable: { path?: string; query?: string };
  eventTimeColumn: string;
  features?: FeatureUseInput[];
  /** A feature set reference instead of (or as well as) `features`. */
  featureSet?: string;
  /** Values older than this at a row's event time are left empty, e.g. `30d`. */
  ttl?: string | null;
}

export interface BuildResult {
  dataset: DatasetVersion;
  /** False when the build produced exactly the latest version's content, so no version was minted. */
  created: boolean;
  seconds: number;
}

export type BuildProgress = (p: { phase: string; done: number; total: number }) => void;

/**
 * Point-in-time training sets, recorded as dataset versions: the Parquet file lives in the
 * artifact store under its sha256, which is the version's identity in a model's lineage.
 */
export class TrainingSets {
  constructor(
    private readonly store: FeatureStore,
    private readonly definitions: FeatureDefinitions,
    private readonly engine: OfflineEngine,
    private readonly artifacts: ArtifactStore,
    private readonly bus: EventBus,
    private readonly workDir: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Builds the training set and records it. Throws VALIDATION_FAILED listing every problem with
   * the request (unknown features, bad entity table, clashing names) before any work is done.
   */
  async build(input: BuildTrainingSetInput, actor: Actor, onProgress?: BuildProgress): Promise<BuildResult> {
    requireRole(actor, 'editor', 'building a training set');
    const v = new ValidationErrors();
    checkName(v, 'name', input.name);
    const table = input.entityTable ?? {};
    const hasPath = typeof table.path === 'string' && table.path.trim() !== '';
    const hasQuery = typeof table.query === 'string' && table.query.trim() !== '';
    if (hasPath === hasQuery) v.add('entityTable', 'give exactly one of path or query');
    if (typeof input.eventTimeColumn !== 'string' || !COLUMN_PATTERN.test(input.eventTimeColumn)) {
      v.add('eventTimeColumn', `required; ${COLUMN_RULE}`);
    }
    if (input.features === undefined && input.featureSet === undefined) v.add('features', 'give features, a featureSet, or both');
    let ttlSeconds: number | null = null;
    if (input.ttl !== undefined && input.ttl !== null) {
      try {
        ttlSeconds = parseDuration(String(input.ttl), 'ttl');
      } catch (err) {
        if (err instanceof CairnError) v.errors.push(...((err.details.errors as typeof v.errors) ?? []));
        else throw err;
      }
    }
    v.throwIfAny();

    const uses: ResolvedUse[] = [];
    if (input.featureSet !== undefined) uses.push(...(await this.definitions.resolveFeatureSet(input.featureSet, 'featureSet')).uses);
    if (input.features !== undefined) uses.push(...(await this.definitions.resolveUses(input.features, 'features')));
    const dup = uses.find((u, i) => uses.findIndex((o) => o.use.as === u.use.as) !== i);
    if (dup) {
      throw CairnError.validation([{ path: 'features', reason: `output name ${dup.use.as} appears twice (feature set and features)` }]);
    }

    const entityTable = hasPath ? { path: path.resolve(table.path!) } : { query: table.query! };
    fs.mkdirSync(this.workDir, { recursive: true });
    const outputPath = path.join(this.workDir, `${newId('ts')}.parquet`);
    const started = performance.now();
    try {
      const built = await this.engine.buildTrainingSet({
        entityTable,
        eventTimeColumn: input.eventTimeColumn,
        features: uses.map((u) => ({ feature: u.feature, joinOn: u.use.joinOn, as: u.use.as })),
        ttlSeconds,
        outputPath,
        ...(onProgress ? { onProgress } : {}),
      });
      onProgress?.({ phase: 'storing', done: 0, total: 1 });
      const artifact = await this.artifacts.putFile(outputPath);
      const features = uses.map((u) => u.use);
      const latest = await this.store.getDatasetVersion(input.name, null);
      const seconds = (performance.now() - started) / 1000;
      if (latest && latest.contentHash === artifact.digest && JSON.stringify(latest.features) === JSON.stringify(features)) {
        return { dataset: latest, created: false, seconds };
      }
      const dataset: DatasetVersion = {
        name: input.name,
        version: (latest?.version ?? 0) + 1,
        contentHash: artifact.digest,
        rowCount: built.rowCount,
        schema: built.columns,
        features,
        entityTable: { ...entityTable, eventTimeColumn: input.eventTimeColumn },
        ttlSeconds,
        createdAt: this.clock.now().toISOString(),
        createdBy: actor.user,
      };
      try {
        await this.store.insertDatasetVersion(dataset);
      } catch (err) {
        if (isUniqueViolation(err)) throw new CairnError('CONFLICT', `dataset ${input.name} got a new version meanwhile; retry`);
        throw err;
      }
      onProgress?.({ phase: 'storing', done: 1, total: 1 });
      this.bus.publish({
        type: 'dataset.version_created',
        at: dataset.createdAt,
        actor: actor.user,
        payload: { name: dataset.name, version: dataset.version, contentHash: dataset.contentHash, features: features.map((f) => f.ref) },
      });
      return { dataset, created: true, seconds };
    } finally {
      fs.rmSync(outputPath, { force: true });
    }
  }

  async get(name: string, version: number | null): Promise<DatasetVersion> {
    const d = await this.store.getDatasetVersion(name, version);
    if (d) return d;
    const what = version === null ? `dataset ${name}` : `dataset ${formatRef(name, version)}`;
    throw new CairnError('DATASET_NOT_FOUND', `${what} not found`, { name, version });
  }

  async listVersions(name: string): Promise<DatasetVersion[]> {
    const versions = await this.store.listDatasetVersions(name);
    if (versions.length === 0) throw new CairnError('DATASET_NOT_FOUND', `dataset ${name} not found`, { name });
    return versions;
  }

  async list(o: { limit?: number; cursor?: string }): Promise<Page<DatasetVersion>> {
    const limit = pageSize(o.limit);
    return toPage(await this.store.listDatasets({ limit, after: decodeCursor(o.cursor) }), limit, (d) => d.name);
  }

  /** The Parquet bytes of a dataset version, integrity-checked, as a stream. */
  async open(name: string, version: number | null): Promise<{ dataset: DatasetVersion; stream: NodeJS.ReadableStream }> {
    const dataset = await this.get(name, version);
    return { dataset, stream: await this.artifacts.getStream(dataset.contentHash) };
  }
}
