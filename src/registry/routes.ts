import path from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { CairnError } from '../core/errors.js';
import type { CardPatch } from './cards.js';
import { MAX_VERSION, type RegisterVersionInput, type RegistryService } from './service.js';

const strict = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { additionalProperties: false });
const Opt = Type.Optional;
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Text = Type.String();
const TextList = Type.Union([Type.String(), Type.Array(Type.String())]);
const StringMap = Type.Record(Type.String(), Type.String());
const Limit = Opt(Type.Integer({ minimum: 1, maximum: 1000 }));
const VersionNumber = Type.Integer({ minimum: 1, maximum: MAX_VERSION });

/** The card fields an author writes; see cards.ts for the section each one lands in. */
const cardFields = {
  description: Type.String({ description: 'required: what the model does (modelDetails.overview)' }),
  intendedUse: Type.Union([Type.String(), Type.Array(Type.String())], { description: 'required: what it is for (considerations.useCases)' }),
  trainingData: Type.String({ description: 'required: what it was trained on (modelParameters.data.training)' }),
  evaluationData: Text,
  owners: Type.Union([Type.String(), Type.Array(Type.Union([Type.String(), strict({ name: Text, contact: Opt(Nullable(Text)) })]))]),
  license: Text,
  references: TextList,
  modelArchitecture: Text,
  inputFormat: Text,
  outputFormat: Text,
  performanceMetrics: Type.Array(strict({ type: Text, value: Type.Number(), slice: Opt(Nullable(Text)) })),
  users: TextList,
  limitations: TextList,
  tradeoffs: TextList,
  ethicalConsiderations: Type.Union([Type.String(), Type.Array(Type.Union([Type.String(), strict({ name: Text, mitigationStrategy: Opt(Nullable(Text)) })]))]),
  outOfScopeUses: TextList,
  caveats: TextList,
};
// The service names the required fields that are missing, all at once, with their reasons.
const Card = Type.Partial(strict(cardFields));
// An edit takes the same fields, and null to empty one.
const CardEdit = strict(Object.fromEntries(Object.entries(cardFields).map(([k, s]) => [k, Opt(Nullable(s as TSchema))])));

const CreateModel = strict({ name: Text, description: Opt(Text), tags: Opt(StringMap), owner: Opt(Text) });
const UpdateModel = strict({ description: Opt(Text), tags: Opt(StringMap), owner: Opt(Text) });
const RegisterVersion = strict({
  runId: Opt(Type.String({ description: 'register the model of this finished run' })),
  artifactPath: Opt(Type.String({ description: 'the ONNX file in the run; default model/model.onnx' })),
  file: Opt(Type.String({ description: 'or: the digest answered by POST /models/{name}/files' })),
  lineage: Opt(
    strict({
      dataset: Opt(Type.String({ description: 'name@version' })),
      featureSet: Opt(Type.String({ description: 'name@version' })),
      features: Opt(Type.Array(Type.String({ description: 'name@version' }))),
      trainer: Opt(Text),
      params: Opt(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
      codeVersion: Opt(Text),
    }),
  ),
  parent: Opt(Type.String({ description: 'the version this one derives from, model@3' })),
  card: Opt(Card),
});
const Transition = strict({
  stage: Type.String({ description: 'None, Staging, Production or Archived' }),
  comment: Opt(Text),
  archiveExisting: Opt(Type.Boolean({ description: 'into Production: archive the current Production version (default true)' })),
});
const Review = strict({ revision: Opt(VersionNumber), comment: Opt(Text) });
const SetAlias = strict({ version: VersionNumber });
const ListQuery = strict({ limit: Limit, cursor: Opt(Type.String()) });
const RevisionQuery = strict({ revision: Opt(VersionNumber) });
const NameParams = strict({ name: Type.String() });
const VersionParams = strict({ name: Type.String(), version: VersionNumber });
const AliasParams = strict({ name: Type.String(), alias: Type.String() });

type NameP = Static<typeof NameParams>;
type VersionP = Static<typeof VersionParams>;
type AliasP = Static<typeof AliasParams>;
type ListQ = Static<typeof ListQuery>;

// The page carries no script and loads nothing: only its own inline styles may apply.
const CARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/**
 * The model registry's REST resources: models, versions (from runs or uploaded ONNX files),
 * stages, aliases, lineage both ways, and model cards with revisions, reviews and renderings.
 */
export function registryRoutes(registry: RegistryService): FastifyPluginAsync {
  return async (app) => {
    const tag = (t: string, summary: string) => ({ tags: [t], summary });
    const cards = registry.cards;
    // An uploaded model arrives as raw bytes; fastify's body limit applies (413 beyond it).
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    // models
    app.post<{ Body: Static<typeof CreateModel> }>('/models', { schema: { ...tag('models', 'Register a model'), body: CreateModel } },
      async (req, reply) => reply.status(201).send(await registry.createModel(req.body, req.actor)));
    app.get<{ Querystring: ListQ }>('/models', { schema: { ...tag('models', 'List models by name'), querystring: ListQuery } },
      async (req) => registry.listModels(req.query));
    app.get<{ Params: NameP }>('/models/:name', { schema: { ...tag('models', 'Get a model'), params: NameParams } },
      async (req) => registry.getModel(req.params.name));
    app.patch<{ Params: NameP; Body: Static<typeof UpdateModel> }>(
      '/models/:name', { schema: { ...tag('models', "Change a model's description, tags or owner"), params: NameParams, body: UpdateModel } },
      async (req) => registry.updateModel(req.params.name, req.body, req.actor));
    app.get<{ Querystring: ListQ }>(
      '/production-models', { schema: { ...tag('models', "Every model's Production version"), querystring: ListQuery } },
      async (req) => registry.productionVersions(req.query));

    // versions
    app.post<{ Params: NameP }>(
      '/models/:name/files',
      { schema: { ...tag('model versions', 'Upload an ONNX file (raw bytes, application/octet-stream) to register with {file: digest}'), params: NameParams } },
      async (req, reply) => {
        if (!Buffer.isBuffer(req.body)) throw new CairnError('UNSUPPORTED_MEDIA_TYPE', "send the ONNX file's bytes with Content-Type: application/octet-stream");
        return reply.status(201).send(await registry.uploadFile(req.params.name, req.body, req.actor));
      });
    app.post<{ Params: NameP; Body: Static<typeof RegisterVersion> }>(
      '/models/:name/versions',
      { schema: { ...tag('model versions', "Register the next version from a run's ONNX artifact or an uploaded file, with its card"), params: NameParams, body: RegisterVersion } },
      async (req, reply) => reply.status(201).send(await registry.registerVersion(req.params.name, req.body as RegisterVersionInput, req.actor)));
    app.get<{ Params: NameP; Querystring: ListQ & { stage?: string } }>(
      '/models/:name/versions',
      { schema: { ...tag('model versions', "List a model's versions, newest first"), params: NameParams, querystring: strict({ limit: Limit, cursor: Opt(Type.String()), stage: Opt(Type.String()) }) } },
      async (req) => registry.listVersions(req.params.name, req.query));
    app.get<{ Params: VersionP }>('/models/:name/versions/:version', { schema: { ...tag('model versions', 'Get a version with its current card'), params: VersionParams } },
      async (req) => registry.getVersion(req.params.name, req.params.version));
    app.get<{ Params: VersionP & { '*': string } }>(
      '/models/:name/versions/:version/artifacts/*',
      { schema: { ...tag('model versions', "Download a version's file (model.onnx, signature.json, profile.json…)"), params: strict({ name: Type.String(), version: VersionNumber, '*': Type.String() }) } },
      async (req, reply) => {
        const { artifact, stream } = await registry.openArtifact(req.params.name, req.params.version, req.params['*']);
        return reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', artifact.size)
          .header('content-disposition', `attachment; filename="${path.posix.basename(artifact.path).replace(/[^\w.-]/g, '_')}"`)
          .header('x-content-sha256', artifact.digest)
          .send(stream);
      });
    app.get<{ Params: VersionP }>('/models/:name/versions/:version/lineage', { schema: { ...tag('lineage', 'A version traced back to its run, dataset and feature versions'), params: VersionParams } },
      async (req) => registry.lineage(req.params.name, req.params.version));

    // stages
    app.post<{ Params: VersionP; Body: Static<typeof Transition> }>(
      '/models/:name/versions/:version/transitions',
      { schema: { ...tag('stages', 'Move a version to another stage (Production needs an approved, complete card)'), params: VersionParams, body: Transition } },
      async (req) => registry.transition(req.params.name, req.params.version, req.body, req.actor));
    app.get<{ Params: NameP; Querystring: ListQ & { version?: number } }>(
      '/models/:name/transitions',
      { schema: { ...tag('stages', 'Stage transitions of a model (or ?version=N), oldest first'), params: NameParams, querystring: strict({ limit: Limit, cursor: Opt(Type.String()), version: Opt(VersionNumber) }) } },
      async (req) => registry.history(req.params.name, req.query));
    app.get<{ Params: NameP & { stage: string } }>(
      '/models/:name/stages/:stage', { schema: { ...tag('stages', 'The version in a stage, e.g. production'), params: strict({ name: Type.String(), stage: Type.String() }) } },
      async (req) => registry.getByStage(req.params.name, req.params.stage));

    // aliases
    app.get<{ Params: NameP }>('/models/:name/aliases', { schema: { ...tag('aliases', "A model's aliases"), params: NameParams } },
      async (req) => ({ items: await registry.listAliases(req.params.name) }));
    app.get<{ Params: AliasP }>('/models/:name/aliases/:alias', { schema: { ...tag('aliases', 'The version an alias points at'), params: AliasParams } },
      async (req) => registry.getByAlias(req.params.name, req.params.alias));
    app.put<{ Params: AliasP; Body: Static<typeof SetAlias> }>(
      '/models/:name/aliases/:alias', { schema: { ...tag('aliases', 'Point an alias at a version (create or move)'), params: AliasParams, body: SetAlias } },
      async (req) => registry.setAlias(req.params.name, req.params.alias, req.body.version, req.actor));
    app.delete<{ Params: AliasP }>('/models/:name/aliases/:alias', { schema: { ...tag('aliases', 'Delete an alias'), params: AliasParams } },
      async (req) => registry.deleteAlias(req.params.name, req.params.alias, req.actor));

    // cards
    app.get<{ Params: VersionP; Querystring: Static<typeof RevisionQuery> }>(
      '/models/:name/versions/:version/card',
      { schema: { ...tag('model cards', "A version's card: the current revision, or ?revision=N"), params: VersionParams, querystring: RevisionQuery } },
      async (req) => cards.get(req.params.name, req.params.version, req.query.revision ?? null));
    app.patch<{ Params: VersionP; Body: CardPatch }>(
      '/models/:name/versions/:version/card',
      { schema: { ...tag('model cards', 'Edit the card: a new revision, pending review (null empties a field)'), params: VersionParams, body: CardEdit } },
      async (req, reply) => {
        const result = await cards.edit(req.params.name, req.params.version, req.body, req.actor);
        return reply.status(result.created ? 201 : 200).send(result);
      });
    app.get<{ Params: VersionP }>('/models/:name/versions/:version/card/revisions', { schema: { ...tag('model cards', 'Every revision of the card'), params: VersionParams } },
      async (req) => ({ items: await cards.revisions(req.params.name, req.params.version) }));
    app.get<{ Params: VersionP }>('/models/:name/versions/:version/card/reviews', { schema: { ...tag('model cards', 'Every approval and rejection of the card'), params: VersionParams } },
      async (req) => ({ items: await cards.reviews(req.params.name, req.params.version) }));
    for (const decision of ['approved', 'rejected'] as const) {
      const verb = decision === 'approved' ? 'approve' : 'reject';
      app.post<{ Params: VersionP; Body: Static<typeof Review> }>(
        `/models/:name/versions/:version/card/${verb}`,
        { schema: { ...tag('model cards', `${decision === 'approved' ? 'Approve' : 'Reject (with a comment)'} the current card revision (approver)`), params: VersionParams, body: Review } },
        async (req) => cards.review(req.params.name, req.params.version, decision, req.body ?? {}, req.actor));
    }
    for (const [ext, type] of [['md', 'text/markdown; charset=utf-8'], ['html', 'text/html; charset=utf-8']] as const) {
      app.get<{ Params: VersionP; Querystring: Static<typeof RevisionQuery> }>(
        `/models/:name/versions/:version/card.${ext}`,
        { schema: { ...tag('model cards', `The card as ${ext === 'md' ? 'Markdown' : 'a standalone HTML page'}, with lineage and metrics`), params: VersionParams, querystring: RevisionQuery } },
        async (req, reply) => {
          const text = await cards.render(req.params.name, req.params.version, ext, req.query.revision ?? null);
          if (ext === 'html') void reply.header('content-security-policy', CARD_CSP);
          return reply.header('content-type', type).header('x-content-type-options', 'nosniff').send(text);
        });
    }

    // forward lineage: from a feature or dataset version to the model versions trained on it
    app.get<{ Params: VersionP }>(
      '/features/:name/versions/:version/models',
      { schema: { ...tag('lineage', 'Every model version trained on a feature version'), params: VersionParams } },
      async (req) => ({ feature: `${req.params.name}@${req.params.version}`, items: await registry.versionsUsingFeature(req.params.name, req.params.version) }));
    app.get<{ Params: VersionP }>(
      '/datasets/:name/versions/:version/models',
      { schema: { ...tag('lineage', 'Every model version trained on a dataset version'), params: VersionParams } },
      async (req) => ({ dataset: `${req.params.name}@${req.params.version}`, items: await registry.versionsUsingDataset(req.params.name, req.params.version) }));
  };
}
