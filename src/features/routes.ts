import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { CairnError } from '../core/errors.js';
import type { FeatureDefinitions } from './definitions.js';
import type { Materializer } from './materialization.js';
import { VALUE_TYPES } from './model.js';
import type { OnlineReads } from './online-reads.js';
import type { TrainingSets } from './training-sets.js';

const Name = Type.String({ minLength: 1, maxLength: 64 });
const StringMap = Type.Record(Type.String(), Type.String());
const FeatureUse = Type.Union([
  Type.String({ description: 'name@version, or name for the latest' }),
  Type.Object(
    {
      ref: Type.String(),
      joinOn: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'join key → column of the entity rows' })),
      as: Type.Optional(Type.String({ description: 'output column name' })),
    },
    { additionalProperties: false },
  ),
]);
const strict = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { additionalProperties: false });

const CreateEntity = strict({ name: Name, joinKeys: Type.Array(Type.String(), { minItems: 1 }), description: Type.Optional(Type.String()) });
const CreateSource = strict({
  name: Name,
  path: Type.String({ minLength: 1, description: 'file path or glob on the server' }),
  format: Type.Optional(Type.Union([Type.Literal('parquet'), Type.Literal('csv')])),
  timestampColumn: Type.String({ minLength: 1 }),
  description: Type.Optional(Type.String()),
});
const specProps = {
  entity: Type.String(),
  source: Type.String(),
  valueType: Type.Union(VALUE_TYPES.map((t) => Type.Literal(t))),
  expression: Type.String({ description: 'DuckDB SQL expression over the source columns' }),
  window: Type.Optional(Type.Union([Type.String({ description: 'e.g. 7d: the expression is an aggregate over this window' }), Type.Null()])),
  keyColumns: Type.Optional(StringMap),
  description: Type.Optional(Type.String()),
  tags: Type.Optional(StringMap),
};
const CreateFeature = strict({ name: Name, ...specProps });
const UpdateFeature = Type.Partial(strict(specProps));
const CreateFeatureSet = strict({ name: Name, description: Type.Optional(Type.String()), features: Type.Array(FeatureUse, { minItems: 1 }) });
const UpdateFeatureSet = strict({ description: Type.Optional(Type.String()), features: Type.Optional(Type.Array(FeatureUse, { minItems: 1 })) });
const BuildTrainingSet = strict({
  name: Name,
  entityTable: strict({ path: Type.Optional(Type.String()), query: Type.Optional(Type.String()) }),
  eventTimeColumn: Type.String(),
  features: Type.Optional(Type.Array(FeatureUse)),
  featureSet: Type.Optional(Type.String()),
  ttl: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
const Materialize = strict({
  features: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
  entity: Type.Optional(Type.String()),
  start: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  end: Type.Optional(Type.String()),
  incremental: Type.Optional(Type.Boolean()),
});
const OnlineRead = strict({
  features: Type.Optional(Type.Array(FeatureUse)),
  featureSet: Type.Optional(Type.String()),
  rows: Type.Array(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()])), { minItems: 1 }),
});
const ListQuery = strict({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), cursor: Type.Optional(Type.String()) });
const VersionQuery = strict({ version: Type.Optional(Type.Integer({ minimum: 1 })) });
const NameParams = strict({ name: Type.String() });
const VersionParams = strict({ name: Type.String(), version: Type.Integer({ minimum: 1 }) });

type ListQ = Static<typeof ListQuery>;
type NameP = Static<typeof NameParams>;
type VersionP = Static<typeof VersionParams>;

export interface FeatureServices {
  definitions: FeatureDefinitions;
  trainingSets: TrainingSets;
  materializer: Materializer;
  online: OnlineReads;
}

/** The feature store's REST resources: entities, sources, features, feature sets, datasets, online reads. */
export function featureRoutes(s: FeatureServices): FastifyPluginAsync {
  return async (app) => {
    const tag = (t: string, summary: string) => ({ tags: [t], summary });

    // entities
    app.post<{ Body: Static<typeof CreateEntity> }>('/entities', { schema: { ...tag('entities', 'Create an entity'), body: CreateEntity } },
      async (req, reply) => reply.status(201).send(await s.definitions.createEntity(req.body, req.actor)));
    app.get<{ Querystring: ListQ }>('/entities', { schema: { ...tag('entities', 'List entities'), querystring: ListQuery } },
      async (req) => s.definitions.listEntities(req.query));
    app.get<{ Params: NameP }>('/entities/:name', { schema: { ...tag('entities', 'Get an entity'), params: NameParams } },
      async (req) => s.definitions.getEntity(req.params.name));

    // sources
    app.post<{ Body: Static<typeof CreateSource> }>('/sources', { schema: { ...tag('sources', 'Register a data source'), body: CreateSource } },
      async (req, reply) => reply.status(201).send(await s.definitions.createSource(req.body, req.actor)));
    app.get<{ Querystring: ListQ }>('/sources', { schema: { ...tag('sources', 'List data sources'), querystring: ListQuery } },
      async (req) => s.definitions.listSources(req.query));
    app.get<{ Params: NameP }>('/sources/:name', { schema: { ...tag('sources', 'Get a data source'), params: NameParams } },
      async (req) => s.definitions.getSource(req.params.name));

    // features
    app.post<{ Body: Static<typeof CreateFeature> }>('/features', { schema: { ...tag('features', 'Create a feature (version 1)'), body: CreateFeature } },
      async (req, reply) => reply.status(201).send(await s.definitions.createFeature(req.body, req.actor)));
    app.get<{ Querystring: ListQ & { entity?: string } }>(
      '/features',
      { schema: { ...tag('features', 'List features at their latest version'), querystring: Type.Composite([ListQuery, strict({ entity: Type.Optional(Type.String()) })], { additionalProperties: false }) } },
      async (req) => s.definitions.listFeatures(req.query));
    app.get<{ Params: NameP; Querystring: Static<typeof VersionQuery> }>(
      '/features/:name',
      { schema: { ...tag('features', 'Get a feature: the latest version, or ?version=N'), params: NameParams, querystring: VersionQuery } },
      async (req) => s.definitions.getFeature(req.params.name, req.query.version ?? null));
    app.patch<{ Params: NameP; Body: Static<typeof UpdateFeature> }>(
      '/features/:name',
      { schema: { ...tag('features', 'Update a feature: stores a new version unless nothing changed'), params: NameParams, body: UpdateFeature } },
      async (req, reply) => {
        const { feature, created } = await s.definitions.updateFeature(req.params.name, req.body, req.actor);
        return reply.status(created ? 201 : 200).send({ ...feature, created });
      });
    app.get<{ Params: NameP }>('/features/:name/versions', { schema: { ...tag('features', 'List every version of a feature'), params: NameParams } },
      async (req) => ({ items: await s.definitions.listFeatureVersions(req.params.name) }));
    app.get<{ Params: VersionP }>('/features/:name/versions/:version', { schema: { ...tag('features', 'Get one version of a feature'), params: VersionParams } },
      async (req) => s.definitions.getFeature(req.params.name, req.params.version));

    // feature sets
    app.post<{ Body: Static<typeof CreateFeatureSet> }>('/feature-sets', { schema: { ...tag('feature sets', 'Create a feature set'), body: CreateFeatureSet } },
      async (req, reply) => reply.status(201).send(await s.definitions.createFeatureSet(req.body, req.actor)));
    app.get<{ Querystring: ListQ }>('/feature-sets', { schema: { ...tag('feature sets', 'List feature sets'), querystring: ListQuery } },
      async (req) => s.definitions.listFeatureSets(req.query));
    app.get<{ Params: NameP; Querystring: Static<typeof VersionQuery> }>(
      '/feature-sets/:name',
      { schema: { ...tag('feature sets', 'Get a feature set'), params: NameParams, querystring: VersionQuery } },
      async (req) => s.definitions.getFeatureSet(req.params.name, req.query.version ?? null));
    app.patch<{ Params: NameP; Body: Static<typeof UpdateFeatureSet> }>(
      '/feature-sets/:name',
      { schema: { ...tag('feature sets', 'Update a feature set (new version)'), params: NameParams, body: UpdateFeatureSet } },
      async (req, reply) => {
        const { featureSet, created } = await s.definitions.updateFeatureSet(req.params.name, req.body, req.actor);
        return reply.status(created ? 201 : 200).send({ ...featureSet, created });
      });
    app.get<{ Params: NameP }>('/feature-sets/:name/versions', { schema: { ...tag('feature sets', 'List versions of a feature set'), params: NameParams } },
      async (req) => ({ items: await s.definitions.listFeatureSetVersions(req.params.name) }));

    // training sets and datasets
    app.post<{ Body: Static<typeof BuildTrainingSet> }>(
      '/training-sets',
      { schema: { ...tag('datasets', 'Build a point-in-time training set and record it as a dataset version'), body: BuildTrainingSet } },
      async (req, reply) => {
        const result = await s.trainingSets.build(req.body, req.actor, (p) => req.log.debug({ progress: p }, 'training set'));
        return reply.status(result.created ? 201 : 200).send(result);
      });
    app.get<{ Querystring: ListQ }>('/datasets', { schema: { ...tag('datasets', 'List datasets at their latest version'), querystring: ListQuery } },
      async (req) => s.trainingSets.list(req.query));
    app.get<{ Params: NameP; Querystring: Static<typeof VersionQuery> }>(
      '/datasets/:name',
      { schema: { ...tag('datasets', 'Get a dataset version (latest, or ?version=N)'), params: NameParams, querystring: VersionQuery } },
      async (req) => s.trainingSets.get(req.params.name, req.query.version ?? null));
    app.get<{ Params: NameP }>('/datasets/:name/versions', { schema: { ...tag('datasets', 'List versions of a dataset'), params: NameParams } },
      async (req) => ({ items: await s.trainingSets.listVersions(req.params.name) }));
    app.get<{ Params: VersionP }>('/datasets/:name/versions/:version', { schema: { ...tag('datasets', 'Get one dataset version'), params: VersionParams } },
      async (req) => s.trainingSets.get(req.params.name, req.params.version));
    app.get<{ Params: VersionP }>(
      '/datasets/:name/versions/:version/data',
      { schema: { ...tag('datasets', 'Download a dataset version as Parquet'), params: VersionParams } },
      async (req, reply) => {
        const { dataset, stream } = await s.trainingSets.open(req.params.name, req.params.version);
        return reply
          .header('content-type', 'application/vnd.apache.parquet')
          .header('content-disposition', `attachment; filename="${dataset.name}-v${dataset.version}.parquet"`)
          .header('x-content-sha256', dataset.contentHash)
          .send(stream);
      });

    // materialization
    app.post<{ Body: Static<typeof Materialize>; Querystring: { wait?: boolean } }>(
      '/materializations',
      { schema: { ...tag('online', 'Materialize features into the online store (runs in the background; ?wait=true waits)'), body: Materialize, querystring: strict({ wait: Type.Optional(Type.Boolean()) }) } },
      async (req, reply) => {
        const m = await s.materializer.start(req.body, req.actor);
        if (req.query.wait) return reply.status(201).send(await s.materializer.wait(m.id));
        return reply.status(202).send(await s.materializer.get(m.id));
      });
    app.get<{ Querystring: ListQ }>('/materializations', { schema: { ...tag('online', 'List materializations, newest first'), querystring: ListQuery } },
      async (req) => s.materializer.list(req.query));
    app.get<{ Params: { id: string } }>('/materializations/:id', { schema: { ...tag('online', 'A materialization with its progress, rate and ETA') } },
      async (req) => s.materializer.get(req.params.id));
    app.post<{ Params: { id: string } }>('/materializations/:id/resume', { schema: { ...tag('online', 'Resume a failed materialization') } },
      async (req, reply) => reply.status(202).send(await s.materializer.resume(req.params.id, req.actor)));

    // online reads
    app.post<{ Body: Static<typeof OnlineRead> }>(
      '/online-features',
      { schema: { ...tag('online', 'Read feature vectors for entity keys, pinned to feature versions'), body: OnlineRead } },
      async (req) => {
        if (!req.body.features && !req.body.featureSet) {
          throw CairnError.validation([{ path: 'features', reason: 'give features, a featureSet, or both' }]);
        }
        return s.online.read(req.body);
      });
  };
}
