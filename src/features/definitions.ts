import path from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { isDuration } from '../core/duration.js';
import { CairnError, ValidationErrors } from '../core/errors.js';
import type { EventBus } from '../core/event-bus.js';
import { decodeCursor, pageSize, toPage, type Page } from '../core/pagination.js';
import { isUniqueViolation } from '../storage/db.js';
import { requireRole, type Actor } from '../identity/index.js';
import {
  VALUE_TYPES,
  type DataSource,
  type Entity,
  type FeatureSetVersion,
  type FeatureSpec,
  type FeatureUse,
  type FeatureVersion,
  type SourceFormat,
  type ValueType,
} from './model.js';
import type { OfflineEngine, ResolvedFeature } from './offline-engine.js';
import { COLUMN_PATTERN, COLUMN_RULE, checkName, formatRef, parseRef } from './refs.js';
import type { FeatureStore } from './store.js';

export interface CreateEntityInput {
  name: string;
  joinKeys: string[];
  description?: string;
}

export interface CreateSourceInput {
  name: string;
  path: string;
  format?: SourceFormat;
  timestampColumn: string;
  description?: string;
}

export interface FeatureSpecInput {
  entity?: string;
  source?: string;
  valueType?: string;
  expression?: string;
  window?: string | null;
  keyColumns?: Record<string, string>;
  description?: string;
  tags?: Record<string, string>;
}

export interface CreateFeatureInput extends FeatureSpecInput {
  name: string;
}

/** A feature reference as users write it: a bare `name@version`, or with a key mapping and alias. */
export type FeatureUseInput = string | { ref: string; joinOn?: Record<string, string>; as?: string };

export interface CreateFeatureSetInput {
  name: string;
  description?: string;
  features: FeatureUseInput[];
}

/** A feature use with everything needed to compute or look it up. */
export interface ResolvedUse {
  use: FeatureUse;
  feature: ResolvedFeature;
}

const SPEC_FIELDS = ['entity', 'source', 'valueType', 'expression', 'window', 'keyColumns', 'description', 'tags'] as const;

/** Spec fields compare by value; object key order is not a change. */
function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)));
}

function inferFormat(p: string): SourceFormat | null {
  const lower = p.toLowerCase();
  if (lower.endsWith('.parquet') || lower.endsWith('.pq')) return 'parquet';
  if (lower.endsWith('.csv') || lower.endsWith('.csv.gz') || lower.endsWith('.tsv')) return 'csv';
  return null;
}

function checkStringMap(v: ValidationErrors, p: string, value: unknown): value is Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    v.add(p, 'expected an object of strings');
    return false;
  }
  let ok = true;
  for (const [k, val] of Object.entries(value)) {
    if (typeof val !== 'string') {
      v.add(`${p}.${k}`, 'expected a string');
      ok = false;
    }
  }
  return ok;
}

/**
 * Entities, data sources, versioned feature definitions and feature sets: the rules of the feature
 * store's catalogue. Feature versions are immutable; an update that changes nothing mints nothing.
 * Every write needs the editor role and records its author.
 */
export class FeatureDefinitions {
  /** Versions never change once written, so a resolved `name@version` can be cached for good. */
  private readonly resolved = new Map<string, ResolvedFeature>();

  constructor(
    private readonly store: FeatureStore,
    private readonly engine: OfflineEngine,
    private readonly bus: EventBus,
    private readonly clock: Clock = systemClock,
  ) {}

  // ---- entities ---------------------------------------------------------------------------

  async createEntity(input: CreateEntityInput, actor: Actor): Promise<Entity> {
    requireRole(actor, 'editor', 'creating an entity');
    const v = new ValidationErrors();
    checkName(v, 'name', input.name);
    if (!Array.isArray(input.joinKeys) || input.joinKeys.length === 0) v.add('joinKeys', 'at least one join key is required');
    else {
      input.joinKeys.forEach((k, i) => {
        if (typeof k !== 'string' || !COLUMN_PATTERN.test(k)) v.add(`joinKeys[${i}]`, COLUMN_RULE);
      });
      if (new Set(input.joinKeys).size !== input.joinKeys.length) v.add('joinKeys', 'join keys must be distinct');
    }
    v.throwIfAny();
    const entity: Entity = {
      name: input.name,
      joinKeys: [...input.joinKeys],
      description: input.description ?? '',
      createdAt: this.clock.now().toISOString(),
      createdBy: actor.user,
    };
    try {
      await this.store.insertEntity(entity);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CairnError('ALREADY_EXISTS', `entity ${input.name} already exists`, { name: input.name });
      throw err;
    }
    this.publish('entity.created', actor, { name: entity.name });
    return entity;
  }

  async getEntity(name: string): Promise<Entity> {
    const e = await this.store.getEntity(name);
    if (!e) throw new CairnError('ENTITY_NOT_FOUND', `entity ${name} not found`, { name });
    return e;
  }

  async listEntities(o: { limit?: number; cursor?: string }): Promise<Page<Entity>> {
    const limit = pageSize(o.limit);
    return toPage(await this.store.listEntities({ limit, after: decodeCursor(o.cursor) }), limit, (e) => e.name);
  }

  // ---- sources ----------------------------------------------------------------------------

  /** Registers a file or glob; reads its schema through DuckDB so that a bad path is refused now. */
  async createSource(input: CreateSourceInput, actor: Actor): Promise<DataSource> {
    requireRole(actor, 'editor', 'creating a data source');
    const v = new ValidationErrors();
    checkName(v, 'name', input.name);
    if (typeof input.path !== 'string' || input.path.trim() === '') v.add('path', 'required: a file path or glob');
    if (typeof input.timestampColumn !== 'string' || !COLUMN_PATTERN.test(input.timestampColumn)) {
      v.add('timestampColumn', `required; ${COLUMN_RULE}`);
    }
    let format = input.format ?? null;
    if (format !== null && format !== 'parquet' && format !== 'csv') {
      v.add('format', 'must be parquet or csv');
      format = null;
    }
    if (format === null && typeof input.path === 'string' && input.path && !input.format) {
      format = inferFormat(input.path);
      if (format === null) v.add('format', 'cannot tell the format from the file name: give parquet or csv');
    }
    v.throwIfAny();
    if (await this.store.getSource(input.name)) {
      throw new CairnError('ALREADY_EXISTS', `data source ${input.name} already exists`, { name: input.name });
    }
    const absolute = path.resolve(input.path);
    const { columns } = await this.engine.inspectSource({ path: absolute, format: format!, timestampColumn: input.timestampColumn });
    const source: DataSource = {
      name: input.name,
      path: absolute,
      format: format!,
      timestampColumn: input.timestampColumn,
      description: input.description ?? '',
      columns,
      createdAt: this.clock.now().toISOString(),
      createdBy: actor.user,
    };
    try {
      await this.store.insertSource(source);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CairnError('ALREADY_EXISTS', `data source ${input.name} already exists`, { name: input.name });
      throw err;
    }
    this.publish('source.created', actor, { name: source.name, path: source.path });
    return source;
  }

  async getSource(name: string): Promise<DataSource> {
    const s = await this.store.getSource(name);
    if (!s) throw new CairnError('SOURCE_NOT_FOUND', `data source ${name} not found`, { name });
    return s;
  }

  async listSources(o: { limit?: number; cursor?: string }): Promise<Page<DataSource>> {
    const limit = pageSize(o.limit);
    return toPage(await this.store.listSources({ limit, after: decodeCursor(o.cursor) }), limit, (s) => s.name);
  }

  // ---- features ---------------------------------------------------------------------------

  /**
   * Creates version 1 of a feature. Everything is checked before anything is stored: the name, the
   * entity and source exist, the SQL expression binds over the source and produces the value type.
   * Throws VALIDATION_FAILED listing every problem, or ALREADY_EXISTS for a taken name.
   */
  async createFeature(input: CreateFeatureInput, actor: Actor): Promise<FeatureVersion> {
    requireRole(actor, 'editor', 'creating a feature');
    const v = new ValidationErrors();
    checkName(v, 'name', input.name);
    const spec = await this.checkSpec(input, v);
    if (typeof input.name === 'string' && (await this.store.getFeatureVersion(input.name, null))) {
      throw new CairnError('ALREADY_EXISTS', `feature ${input.name} already exists; update it to make a new version`, {
        name: input.name,
      });
    }
    const version: FeatureVersion = {
      ...spec,
      name: input.name,
      version: 1,
      createdAt: this.clock.now().toISOString(),
      createdBy: actor.user,
      changes: [],
    };
    try {
      await this.store.insertFeatureVersion(version);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CairnError('ALREADY_EXISTS', `feature ${input.name} already exists`, { name: input.name });
      throw err;
    }
    this.publish('feature.version_created', actor, { name: version.name, version: 1 });
    return version;
  }

  /**
   * Applies a change to a feature's latest version. A change that alters nothing returns the latest
   * version with `created: false`; otherwise a new version is stored with the changed field names.
   */
  async updateFeature(name: string, patch: FeatureSpecInput, actor: Actor): Promise<{ feature: FeatureVersion; created: boolean }> {
    requireRole(actor, 'editor', 'updating a feature');
    const latest = await this.getFeature(name, null);
    const merged: FeatureSpecInput = {};
    for (const f of SPEC_FIELDS) {
      (merged as Record<string, unknown>)[f] = patch[f] !== undefined ? patch[f] : latest[f];
    }
    // An omitted keyColumns after an entity change means "the new entity's defaults".
    if (patch.entity !== undefined && patch.entity !== latest.entity && patch.keyColumns === undefined) merged.keyColumns = {};
    const v = new ValidationErrors();
    const spec = await this.checkSpec(merged, v);
    const changes = SPEC_FIELDS.filter((f) => !sameValue(spec[f], latest[f]));
    if (changes.length === 0) return { feature: latest, created: false };
    const version: FeatureVersion = {
      ...spec,
      name,
      version: latest.version + 1,
      createdAt: this.clock.now().toISOString(),
      createdBy: actor.user,
      changes,
    };
    try {
      await this.store.insertFeatureVersion(version);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CairnError('CONFLICT', `feature ${name} changed while this version was being written; retry`);
      throw err;
    }
    this.publish('feature.version_created', actor, { name, version: version.version, changes });
    return { feature: version, created: true };
  }

  /** The latest version (version null) or exactly the given one. */
  async getFeature(name: string, version: number | null): Promise<FeatureVersion> {
    const f = await this.store.getFeatureVersion(name, version);
    if (f) return f;
    if (version !== null && (await this.store.getFeatureVersion(name, null))) {
      throw new CairnError('FEATURE_VERSION_NOT_FOUND', `feature ${name} has no version ${version}`, { name, version });
    }
    throw new CairnError('FEATURE_NOT_FOUND', `feature ${name} not found`, { name });
  }

  async listFeatureVersions(name: string): Promise<FeatureVersion[]> {
    const versions = await this.store.listFeatureVersions(name);
    if (versions.length === 0) throw new CairnError('FEATURE_NOT_FOUND', `feature ${name} not found`, { name });
    return versions;
  }

  async listFeatures(o: { limit?: number; cursor?: string; entity?: string }): Promise<Page<FeatureVersion>> {
    const limit = pageSize(o.limit);
    const rows = await this.store.listFeatures({ limit, after: decodeCursor(o.cursor), ...(o.entity ? { entity: o.entity } : {}) });
    return toPage(rows, limit, (f) => f.name);
  }

  /** Checks a complete spec; adds every problem to `v` and throws them all at once. */
  private async checkSpec(input: FeatureSpecInput, v: ValidationErrors): Promise<FeatureSpec> {
    if (typeof input.entity !== 'string' || !input.entity) v.add('entity', 'required');
    if (typeof input.source !== 'string' || !input.source) v.add('source', 'required');
    if (typeof input.expression !== 'string' || input.expression.trim() === '') v.add('expression', 'required: a DuckDB SQL expression');
    if (!VALUE_TYPES.includes(input.valueType as ValueType)) v.add('valueType', `must be one of ${VALUE_TYPES.join(', ')}`);
    const window = input.window ?? null;
    if (window !== null && (typeof window !== 'string' || !isDuration(window))) {
      v.add('window', 'expected a duration like 24h or 7d');
    }
    const tags = input.tags ?? {};
    checkStringMap(v, 'tags', tags);
    const keyColumnsIn = input.keyColumns ?? {};
    checkStringMap(v, 'keyColumns', keyColumnsIn);

    const entity = typeof input.entity === 'string' && input.entity ? await this.store.getEntity(input.entity) : null;
    if (typeof input.entity === 'string' && input.entity && !entity) v.add('entity', `unknown entity ${JSON.stringify(input.entity)}`);
    const source = typeof input.source === 'string' && input.source ? await this.store.getSource(input.source) : null;
    if (typeof input.source === 'string' && input.source && !source) v.add('source', `unknown data source ${JSON.stringify(input.source)}`);

    const keyColumns: Record<string, string> = {};
    if (entity) {
      for (const k of Object.keys(keyColumnsIn)) {
        if (!entity.joinKeys.includes(k)) v.add(`keyColumns.${k}`, `${k} is not a join key of entity ${entity.name} (${entity.joinKeys.join(', ')})`);
      }
      for (const k of entity.joinKeys) keyColumns[k] = keyColumnsIn[k] ?? k;
    }
    v.throwIfAny();

    const spec: FeatureSpec = {
      entity: entity!.name,
      source: source!.name,
      valueType: input.valueType as ValueType,
      expression: input.expression!.trim(),
      window: window === null ? null : window.trim(),
      keyColumns,
      description: input.description ?? '',
      tags: tags as Record<string, string>,
    };
    await this.engine.checkFeature({ name: 'candidate', version: 0, spec, entityJoinKeys: entity!.joinKeys, source: source! });
    return spec;
  }

  // ---- resolution -------------------------------------------------------------------------

  /** Resolves one `name@version` (or latest) to everything the engines need. */
  async resolve(name: string, version: number | null): Promise<ResolvedFeature> {
    if (version !== null) {
      const hit = this.resolved.get(formatRef(name, version));
      if (hit) return hit;
    }
    const f = await this.getFeature(name, version);
    const key = formatRef(f.name, f.version);
    const cached = this.resolved.get(key);
    if (cached) return cached;
    const [entity, source] = await Promise.all([this.getEntity(f.entity), this.getSource(f.source)]);
    const { name: _n, version: _v, createdAt: _c, createdBy: _b, changes: _ch, ...spec } = f;
    const resolved: ResolvedFeature = { name: f.name, version: f.version, spec, entityJoinKeys: entity.joinKeys, source };
    this.resolved.set(key, resolved);
    return resolved;
  }

  /**
   * Resolves feature uses as users write them (`name@3`, or `{ref, joinOn, as}`), pinning
   * unversioned references to the current latest version. Reports every problem at `path[i]`.
   */
  async resolveUses(inputs: unknown, path: string): Promise<ResolvedUse[]> {
    const v = new ValidationErrors();
    if (!Array.isArray(inputs) || inputs.length === 0) {
      v.add(path, 'at least one feature reference is required');
      v.throwIfAny();
    }
    const out: ResolvedUse[] = [];
    const names = new Set<string>();
    for (const [i, raw] of (inputs as unknown[]).entries()) {
      const p = `${path}[${i}]`;
      const obj = typeof raw === 'string' ? { ref: raw } : (raw as { ref?: unknown; joinOn?: unknown; as?: unknown });
      if (obj === null || typeof obj !== 'object') {
        v.add(p, 'expected "name@version" or {ref, joinOn, as}');
        continue;
      }
      const ref = parseRef(obj.ref, v, typeof raw === 'string' ? p : `${p}.ref`);
      if (obj.as !== undefined && (typeof obj.as !== 'string' || !COLUMN_PATTERN.test(obj.as))) v.add(`${p}.as`, COLUMN_RULE);
      if (obj.joinOn !== undefined && !checkStringMap(v, `${p}.joinOn`, obj.joinOn)) continue;
      if (!ref) continue;
      let feature: ResolvedFeature;
      try {
        feature = await this.resolve(ref.name, ref.version);
      } catch (err) {
        if (err instanceof CairnError && err.httpStatus === 404) {
          v.add(typeof raw === 'string' ? p : `${p}.ref`, err.message);
          continue;
        }
        throw err;
      }
      const joinIn = (obj.joinOn ?? {}) as Record<string, string>;
      for (const k of Object.keys(joinIn)) {
        if (!feature.entityJoinKeys.includes(k)) v.add(`${p}.joinOn.${k}`, `${k} is not a join key of entity ${feature.spec.entity}`);
      }
      const joinOn = Object.fromEntries(feature.entityJoinKeys.map((k) => [k, joinIn[k] ?? k]));
      const as = (obj.as as string | undefined) ?? feature.name;
      if (names.has(as)) v.add(`${p}.as`, `output name ${as} is used twice; give one of them another name with "as"`);
      names.add(as);
      out.push({ use: { ref: formatRef(feature.name, feature.version), joinOn, as }, feature });
    }
    v.throwIfAny();
    return out;
  }

  // ---- feature sets -----------------------------------------------------------------------

  /** Creates version 1 of a feature set, every reference pinned to an exact feature version. */
  async createFeatureSet(input: CreateFeatureSetInput, actor: Actor): Promise<FeatureSetVersion> {
    requireRole(actor, 'editor', 'creating a feature set');
    const v = new ValidationErrors();
    checkName(v, 'name', input.name);
    v.throwIfAny();
    const uses = await this.resolveUses(input.features, 'features');
    if (await this.store.getFeatureSetVersion(input.name, null)) {
      throw new CairnError('ALREADY_EXISTS', `feature set ${input.name} already exists; update it to make a new version`, { name: input.name });
    }
    const set: FeatureSetVersion = {
      name: input.name,
      version: 1,
      description: input.description ?? '',
      features: uses.map((u) => u.use),
      createdAt: this.clock.now().toISOString(),
      createdBy: actor.user,
    };
    try {
      await this.store.insertFeatureSetVersion(set);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CairnError('ALREADY_EXISTS', `feature set ${input.name} already exists`, { name: input.name });
      throw err;
    }
    this.publish('feature_set.version_created', actor, { name: set.name, version: 1 });
    return set;
  }

  /** New version of a feature set; one identical to the latest mints nothing. */
  async updateFeatureSet(
    name: string,
    input: { description?: string; features?: FeatureUseInput[] },
    actor: Actor,
  ): Promise<{ featureSet: FeatureSetVersion; created: boolean }> {
    requireRole(actor, 'editor', 'updating a feature set');
    const latest = await this.getFeatureSet(name, null);
    const features = input.features !== undefined ? (await this.resolveUses(input.features, 'features')).map((u) => u.use) : latest.features;
    const description = input.description ?? latest.description;
    if (description === latest.description && JSON.stringify(features) === JSON.stringify(latest.features)) {
      return { featureSet: latest, created: false };
    }
    const set: FeatureSetVersion = {
      name,
      version: latest.version + 1,
      description,
      features,
      createdAt: this.clock.now().toISOString(),
      createdBy: actor.user,
    };
    await this.store.insertFeatureSetVersion(set);
    this.publish('feature_set.version_created', actor, { name, version: set.version });
    return { featureSet: set, created: true };
  }

  async getFeatureSet(name: string, version: number | null): Promise<FeatureSetVersion> {
    const s = await this.store.getFeatureSetVersion(name, version);
    if (s) return s;
    const what = version === null ? `feature set ${name}` : `feature set ${name}@${version}`;
    throw new CairnError('FEATURE_SET_NOT_FOUND', `${what} not found`, { name, version });
  }

  async listFeatureSetVersions(name: string): Promise<FeatureSetVersion[]> {
    const versions = await this.store.listFeatureSetVersions(name);
    if (versions.length === 0) throw new CairnError('FEATURE_SET_NOT_FOUND', `feature set ${name} not found`, { name });
    return versions;
  }

  async listFeatureSets(o: { limit?: number; cursor?: string }): Promise<Page<FeatureSetVersion>> {
    const limit = pageSize(o.limit);
    return toPage(await this.store.listFeatureSets({ limit, after: decodeCursor(o.cursor) }), limit, (s) => s.name);
  }

  /** Resolves a feature set reference (`name@2` or `name`) to its pinned uses. */
  async resolveFeatureSet(text: unknown, path: string): Promise<{ set: FeatureSetVersion; uses: ResolvedUse[] }> {
    const v = new ValidationErrors();
    const ref = parseRef(text, v, path);
    v.throwIfAny();
    const set = await this.getFeatureSet(ref!.name, ref!.version);
    const uses = await this.resolveUses(set.features, `${path}.features`);
    return { set, uses };
  }

  private publish(type: string, actor: Actor, payload: Record<string, unknown>): void {
    this.bus.publish({ type, at: this.clock.now().toISOString(), actor: actor.user, payload });
  }
}

