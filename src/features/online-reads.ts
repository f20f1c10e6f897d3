import { CairnError, ValidationErrors } from '../core/errors.js';
import type { FeatureDefinitions, FeatureUseInput, ResolvedUse } from './definitions.js';
import type { FeatureValue } from './model.js';
import type { EntityKey, OnlineStore } from './online-store.js';

export interface OnlineReadInput {
  features?: FeatureUseInput[];
  featureSet?: string;
  /** One row per lookup: each feature's join keys are read from the column its joinOn names. */
  rows: Record<string, string | number>[];
}

export interface OnlineReadResult {
  /** Output column name and the exact feature version behind it, in request order. */
  features: { name: string; ref: string }[];
  rows: { values: Record<string, FeatureValue>; eventTimes: Record<string, string | null> }[];
}

export const MAX_ONLINE_ROWS = 10_000;

/**
 * Feature vectors for entity keys from the online store, pinned to exact feature versions.
 * Features of several entities can be read in one call: each row carries every key they need.
 */
export class OnlineReads {
  constructor(
    private readonly definitions: FeatureDefinitions,
    private readonly online: OnlineStore,
  ) {}

  /** Resolves the requested features once; reuse the result for many reads (the serving path does). */
  async resolve(input: Pick<OnlineReadInput, 'features' | 'featureSet'>): Promise<ResolvedUse[]> {
    if (input.features === undefined && input.featureSet === undefined) {
      throw CairnError.validation([{ path: 'features', reason: 'give features, a featureSet, or both' }]);
    }
    const uses: ResolvedUse[] = [];
    if (input.featureSet !== undefined) uses.push(...(await this.definitions.resolveFeatureSet(input.featureSet, 'featureSet')).uses);
    if (input.features !== undefined) uses.push(...(await this.definitions.resolveUses(input.features, 'features')));
    return uses;
  }

  async read(input: OnlineReadInput): Promise<OnlineReadResult> {
    return this.readResolved(await this.resolve(input), input.rows);
  }

  /**
   * Looks up already-resolved uses. Throws VALIDATION_FAILED naming every row and column that
   * lacks a key a feature needs (`rows[3].origin`).
   */
  async readResolved(uses: ResolvedUse[], rows: unknown): Promise<OnlineReadResult> {
    const v = new ValidationErrors();
    if (!Array.isArray(rows) || rows.length === 0) v.add('rows', 'at least one row of entity keys is required');
    else if (rows.length > MAX_ONLINE_ROWS) v.add('rows', `at most ${MAX_ONLINE_ROWS} rows per request, got ${rows.length}`);
    v.throwIfAny();
    const input = rows as Record<string, unknown>[];

    // Group the uses by (entity, key columns) so that each group is one store round trip.
    const groups = new Map<string, { entity: string; columns: string[]; uses: ResolvedUse[] }>();
    for (const u of uses) {
      const columns = u.feature.entityJoinKeys.map((k) => u.use.joinOn[k] ?? k);
      const id = `${u.feature.spec.entity}\u0000${columns.join('\u0000')}`;
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { entity: u.feature.spec.entity, columns, uses: [] }));
      g.uses.push(u);
    }
    input.forEach((row, i) => {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) {
        v.add(`rows[${i}]`, 'expected an object of key columns');
        return;
      }
      for (const g of groups.values()) {
        for (const c of g.columns) {
          const value = row[c];
          if (value === undefined || value === null) v.add(`rows[${i}].${c}`, `missing: needed by ${g.uses.map((u) => u.use.ref).join(', ')}`);
          else if (typeof value !== 'string' && typeof value !== 'number') v.add(`rows[${i}].${c}`, 'expected a string or number');
        }
      }
    });
    v.throwIfAny();

    const out: OnlineReadResult['rows'] = input.map(() => ({ values: {}, eventTimes: {} }));
    await Promise.all(
      [...groups.values()].map(async (g) => {
        const keys: EntityKey[] = input.map((row) => g.columns.map((c) => row[c] as string | number));
        const refs = g.uses.map((u) => u.use.ref);
        const found = await this.online.read(g.entity, keys, refs);
        found.forEach((record, i) => {
          for (const u of g.uses) {
            const hit = record[u.use.ref] ?? null;
            out[i]!.values[u.use.as] = hit ? hit.value : null;
            out[i]!.eventTimes[u.use.as] = hit ? hit.eventTime : null;
          }
        });
      }),
    );
    return { features: uses.map((u) => ({ name: u.use.as, ref: u.use.ref })), rows: out };
  }
}
