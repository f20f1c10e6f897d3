/**
 * Filling a model's inputs from the online store, pinned to exactly the feature versions the model
 * was trained on. The version's lineage names its training dataset, whose feature uses say which
 * feature version became which column (`as`) and which entity key columns it was joined on
 * (`joinOn`); a model input of that name is read from the online store under that version, keyed
 * by the same columns of the request's instance. A version that records only feature versions (an
 * uploaded model) fills inputs named like the features, keyed by the entity's own join keys.
 *
 * Values given in the instance win over looked-up ones: the caller may know better (a correction,
 * or a what-if), and the prediction log records the values actually used.
 */
import { orNullIfNotFound, type FieldError } from '../core/errors.js';
import type { FeatureDefinitions, FeatureUse, FeatureUseInput, OnlineStore, ResolvedUse, TrainingSets } from '../features/index.js';
import { checkValue, type CheckedInstance, type FillGroup, type InputPlan, type PathOf } from './instance-validation.js';

/** What fill planning asks the feature store. */
export interface FeatureCatalog {
  /** The feature uses of a dataset version (`name@version`), or null when it is unknown. */
  datasetUses(ref: string): Promise<FeatureUse[] | null>;
  /** Resolves uses to their features (entity, join keys). */
  resolve(uses: FeatureUseInput[]): Promise<ResolvedUse[]>;
}

/** The feature store as the catalog of fill planning. */
export function featureStoreFillCatalog(definitions: FeatureDefinitions, trainingSets: TrainingSets): FeatureCatalog {
  return {
    datasetUses: async (ref) => {
      const at = ref.lastIndexOf('@');
      const version = Number(ref.slice(at + 1));
      if (at < 0 || !Number.isInteger(version)) return null;
      return (await orNullIfNotFound(trainingSets.get(ref.slice(0, at), version)))?.features ?? null;
    },
    resolve: (uses) => definitions.resolveUses(uses, 'lineage.features'),
  };
}

/** The lineage fields fill planning reads (a registry ModelVersion's `lineage`). */
export interface FillLineage {
  dataset: { ref: string } | null;
  features: string[];
}

/**
 * Groups the model inputs that have an online feature behind them by entity and key columns.
 * Throws whatever the catalog throws (a feature version deleted since training).
 */
export async function planFill(lineage: FillLineage, inputs: readonly string[], catalog: FeatureCatalog): Promise<FillGroup[]> {
  const wanted = new Set(inputs);
  let uses: FeatureUseInput[] = [];
  const fromDataset = lineage.dataset ? await catalog.datasetUses(lineage.dataset.ref) : null;
  if (fromDataset) uses = fromDataset.filter((u) => wanted.has(u.as)).map((u) => ({ ref: u.ref, joinOn: u.joinOn, as: u.as }));
  else uses = lineage.features.filter((ref) => wanted.has(ref.slice(0, ref.lastIndexOf('@'))));
  if (uses.length === 0) return [];
  const resolved = await catalog.resolve(uses);
  const groups = new Map<string, FillGroup>();
  for (const r of resolved) {
    const keyColumns = r.feature.entityJoinKeys.map((k) => r.use.joinOn[k] ?? k);
    const id = `${r.feature.spec.entity}\u0000${keyColumns.join('\u0000')}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { entity: r.feature.spec.entity, keyColumns, uses: [] }));
    g.uses.push({ input: r.use.as, ref: r.use.ref });
  }
  return [...groups.values()];
}

/**
 * Reads the inputs that instances left to the online store, one store round trip per group, and
 * checks each value like a given one. Problems (a value the store does not have for a key the
 * model cannot do without, a stored value of the wrong type) go to `errors`.
 */
export async function fillFromOnlineStore(
  online: OnlineStore,
  plan: InputPlan,
  checked: readonly (CheckedInstance | null)[],
  strict: boolean,
  pathOf: PathOf,
  errors: FieldError[],
): Promise<void> {
  const work = new Map<FillGroup, number[]>();
  checked.forEach((c, i) => {
    for (const g of c?.lookups ?? []) {
      let list = work.get(g);
      if (!list) work.set(g, (list = []));
      list.push(i);
    }
  });
  if (work.size === 0) return;
  const results = await Promise.all(
    [...work].map(async ([group, indexes]) => {
      const keys = indexes.map((i) => group.keyColumns.map((k) => checked[i]!.entities![k]!));
      return { group, indexes, records: await online.read(group.entity, keys, group.uses.map((u) => u.ref)) };
    }),
  );
  for (const { group, indexes, records } of results) {
    indexes.forEach((i, n) => {
      const c = checked[i]!;
      const record = records[n]!;
      for (const use of group.uses) {
        if (Object.hasOwn(c.row, use.input)) continue;
        const rule = plan.byName.get(use.input)!;
        const key = group.keyColumns.map((k) => `${k}=${String(c.entities![k])}`).join(', ');
        const hit = record[use.ref];
        // A boolean feature trained as a numeric input was 0/1 in the training frame.
        const raw = hit && typeof hit.value === 'boolean' && rule.kind === 'numeric' ? Number(hit.value) : (hit?.value ?? null);
        const value = checkValue(rule, raw, strict, pathOf(i, use.input), errors, `${hit ? 'read' : 'no value'} in the online store for ${key}, ${use.ref}`);
        if (value !== undefined) c.row[use.input] = value;
      }
    });
  }
}
