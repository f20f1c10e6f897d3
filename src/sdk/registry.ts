/**
 * The model registry in the SDK: `client.models` (models, versions, stages, aliases, cards),
 * `client.lineage` (from a feature or dataset version forward to model versions) and
 * `client.events` (the durable event log).
 *
 *     await client.models.create({ name: 'delay' });
 *     const v = await client.models.register('delay', { runId, card: { description, intendedUse, trainingData } });
 *     await client.models.approve('delay', v.version, { comment: 'reviewed' });          // approver
 *     await client.models.transition('delay', v.version, { stage: 'Production' });       // approver
 */
import fs from 'node:fs';
import type { CairnEvent } from '../core/event-bus.js';
import type { Page } from '../core/pagination.js';
import type {
  CardPatch,
  CardReview,
  CardRevision,
  CreateModelInput,
  LineageDetail,
  ModelAlias,
  ModelVersion,
  ModelVersionDetail,
  RegisteredModel,
  RegisterVersionInput,
  StageTransition,
  TransitionInput,
  UpdateModelInput,
  UploadedModelFile,
} from '../registry/index.js';
import type { CallOptions, DownloadResult, ListOptions } from './client.js';
import type { TrackingTransport } from './tracking.js';

/** How the registry clients reach the server: CairnClient's request, download and text paths. */
export interface RegistryTransport extends TrackingTransport {
  /** A GET whose answer is text (Markdown, HTML), not JSON. */
  text(route: string, query?: Record<string, string | number | undefined>): Promise<string>;
}

/** A registration from an uploaded file: everything but the run fields. */
export type UploadVersionInput = Omit<RegisterVersionInput, 'runId' | 'artifactPath' | 'file'>;

/** An event of the durable log, with its sequence number. */
export type LoggedEvent = CairnEvent & { seq: number };

const enc = encodeURIComponent;
const model = (name: string) => `/api/v1/models/${enc(name)}`;
const version = (name: string, v: number) => `${model(name)}/versions/${v}`;

export class ModelsClient {
  constructor(private readonly t: RegistryTransport) {}

  /** Registers a model name. Throws VALIDATION_FAILED or ALREADY_EXISTS. */
  create(input: CreateModelInput): Promise<RegisteredModel> {
    return this.t.request('POST', '/api/v1/models', { body: input });
  }

  /** Throws MODEL_NOT_FOUND. */
  get(name: string): Promise<RegisteredModel> {
    return this.t.request('GET', model(name));
  }

  list(o: ListOptions = {}): Promise<Page<RegisteredModel>> {
    return this.t.request('GET', '/api/v1/models', { query: { ...o } });
  }

  /** Changes description, tags (replaced whole) or owner. */
  update(name: string, patch: UpdateModelInput): Promise<RegisteredModel> {
    return this.t.request('PATCH', model(name), { body: patch });
  }

  /**
   * Registers the next version from a run (`runId`, `artifactPath` default model/model.onnx) or
   * an uploaded file (`file`), with its card. Throws VALIDATION_FAILED naming every problem
   * (`card.intendedUse: required …`), MODEL_NOT_FOUND.
   */
  register(name: string, input: RegisterVersionInput): Promise<ModelVersionDetail> {
    return this.t.request('POST', `${model(name)}/versions`, { body: input });
  }

  /** Uploads an ONNX file (a path or bytes); the server checks it loads. Answers its digest and signature. */
  async uploadFile(name: string, file: string | Uint8Array, options: CallOptions = {}): Promise<UploadedModelFile> {
    const raw =
      typeof file === 'string'
        ? { body: fs.createReadStream(file), contentType: 'application/octet-stream', length: (await fs.promises.stat(file)).size }
        : { body: file, contentType: 'application/octet-stream', length: file.length };
    return this.t.request('POST', `${model(name)}/files`, { raw, timeoutMs: options.timeoutMs ?? 0 });
  }

  /** Uploads an ONNX file of any framework and registers it as the next version, in two calls. */
  async upload(name: string, file: string | Uint8Array, input: UploadVersionInput, options: CallOptions = {}): Promise<ModelVersionDetail> {
    const uploaded = await this.uploadFile(name, file, options);
    return this.register(name, { ...input, file: uploaded.digest });
  }

  /** A model's versions, newest first (of one stage when given). */
  versions(name: string, o: ListOptions & { stage?: string } = {}): Promise<Page<ModelVersion>> {
    return this.t.request('GET', `${model(name)}/versions`, { query: { ...o } });
  }

  /** A version with its current card. Throws MODEL_VERSION_NOT_FOUND. */
  version(name: string, v: number): Promise<ModelVersionDetail> {
    return this.t.request('GET', version(name, v));
  }

  /** The version in a stage (`production`); MODEL_VERSION_NOT_FOUND when none is. */
  byStage(name: string, stage: string): Promise<ModelVersionDetail> {
    return this.t.request('GET', `${model(name)}/stages/${enc(stage.toLowerCase())}`);
  }

  /** The version an alias points at; ALIAS_NOT_FOUND when there is no such alias. */
  byAlias(name: string, alias: string): Promise<ModelVersionDetail> {
    return this.t.request('GET', `${model(name)}/aliases/${enc(alias)}`);
  }

  /** Every model's Production version, by model name. */
  production(o: ListOptions = {}): Promise<Page<ModelVersion>> {
    return this.t.request('GET', '/api/v1/production-models', { query: { ...o } });
  }

  /**
   * Moves a version to a stage. Throws FORBIDDEN (Production needs an approver), CARD_INCOMPLETE
   * or CARD_NOT_APPROVED (details say what is missing), CONFLICT (already there).
   */
  transition(name: string, v: number, input: TransitionInput): Promise<{ version: ModelVersion; transitions: StageTransition[] }> {
    return this.t.request('POST', `${version(name, v)}/transitions`, { body: input });
  }

  /** Stage transitions, oldest first (of one version when given). */
  history(name: string, o: ListOptions & { version?: number } = {}): Promise<Page<StageTransition>> {
    return this.t.request('GET', `${model(name)}/transitions`, { query: { ...o } });
  }

  setAlias(name: string, alias: string, v: number): Promise<ModelAlias> {
    return this.t.request('PUT', `${model(name)}/aliases/${enc(alias)}`, { body: { version: v } });
  }

  /** Throws ALIAS_NOT_FOUND. */
  deleteAlias(name: string, alias: string): Promise<ModelAlias> {
    return this.t.request('DELETE', `${model(name)}/aliases/${enc(alias)}`);
  }

  async aliases(name: string): Promise<ModelAlias[]> {
    return (await this.t.request<{ items: ModelAlias[] }>('GET', `${model(name)}/aliases`)).items;
  }

  /** A version traced back to its run, dataset version and feature definitions. */
  lineage(name: string, v: number): Promise<LineageDetail> {
    return this.t.request('GET', `${version(name, v)}/lineage`);
  }

  /** The current card revision, or `revision`. */
  card(name: string, v: number, revision?: number): Promise<CardRevision> {
    return this.t.request('GET', `${version(name, v)}/card`, { query: { revision } });
  }

  async cardRevisions(name: string, v: number): Promise<CardRevision[]> {
    return (await this.t.request<{ items: CardRevision[] }>('GET', `${version(name, v)}/card/revisions`)).items;
  }

  /** Edits the card: a new revision, pending review (`created` false when nothing changed). */
  editCard(name: string, v: number, patch: CardPatch): Promise<CardRevision & { created: boolean }> {
    return this.t.request('PATCH', `${version(name, v)}/card`, { body: patch });
  }

  /** Approves the current card revision (approver). Throws CONFLICT when `revision` is not current. */
  approve(name: string, v: number, input: { revision?: number; comment?: string } = {}): Promise<{ review: CardReview; card: CardRevision }> {
    return this.t.request('POST', `${version(name, v)}/card/approve`, { body: input });
  }

  /** Rejects the current card revision with a comment (approver). */
  reject(name: string, v: number, input: { revision?: number; comment: string }): Promise<{ review: CardReview; card: CardRevision }> {
    return this.t.request('POST', `${version(name, v)}/card/reject`, { body: input });
  }

  async reviews(name: string, v: number): Promise<CardReview[]> {
    return (await this.t.request<{ items: CardReview[] }>('GET', `${version(name, v)}/card/reviews`)).items;
  }

  /** The card as Markdown or a standalone HTML page. */
  renderCard(name: string, v: number, format: 'md' | 'html', revision?: number): Promise<string> {
    return this.t.text(`${version(name, v)}/card.${format}`, { revision });
  }

  /** Downloads a version's file (`model.onnx`, `profile.json`…), checking its sha256. */
  downloadArtifact(name: string, v: number, artifactPath: string, toPath: string, options: CallOptions = {}): Promise<DownloadResult> {
    return this.t.download(`${version(name, v)}/artifacts/${artifactPath.split('/').map(enc).join('/')}`, toPath, options);
  }
}

export class LineageClient {
  constructor(private readonly t: RegistryTransport) {}

  /** Every model version trained on a feature version. Throws FEATURE_VERSION_NOT_FOUND. */
  async featureModels(name: string, v: number): Promise<ModelVersion[]> {
    return (await this.t.request<{ items: ModelVersion[] }>('GET', `/api/v1/features/${enc(name)}/versions/${v}/models`)).items;
  }

  /** Every model version trained on a dataset version. Throws DATASET_NOT_FOUND. */
  async datasetModels(name: string, v: number): Promise<ModelVersion[]> {
    return (await this.t.request<{ items: ModelVersion[] }>('GET', `/api/v1/datasets/${enc(name)}/versions/${v}/models`)).items;
  }
}

export class EventsClient {
  constructor(private readonly t: RegistryTransport) {}

  /** Events after `after` (a previous answer's `lastSeq`), of some types, in order. */
  list(o: { types?: string[]; after?: number; limit?: number } = {}): Promise<{ items: LoggedEvent[]; lastSeq: number; hasMore: boolean }> {
    return this.t.request('GET', '/api/v1/events', { query: { type: o.types?.join(','), after: o.after, limit: o.limit } });
  }
}
