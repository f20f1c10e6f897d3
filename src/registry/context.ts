/** What the registry's services share: their dependencies, the clock, and event publication. */
import { systemClock, type Clock } from '../core/clock.js';
import { CairnError } from '../core/errors.js';
import type { CairnEvent, EventBus } from '../core/event-bus.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import type { StoredEvent } from '../storage/event-log.js';
import type { Actor } from '../identity/index.js';
import type { TrackingService } from '../tracking/index.js';
import { traceLineage, type LineageCatalog } from './lineage.js';
import type { LineageDetail, ModelVersion, RegisteredModel } from './model.js';
import type { RegistryStore } from './store.js';

/** The event types the registry writes to the event log and publishes on the bus. */
export const REGISTRY_EVENTS = [
  'model.created',
  'model.updated',
  'model_version.created',
  'model_version.transitioned',
  'model_version.alias_set',
  'model_version.alias_deleted',
  'model_card.revised',
  'model_card.approved',
  'model_card.rejected',
] as const;
export type RegistryEventType = (typeof REGISTRY_EVENTS)[number];

export interface RegistryDeps {
  store: RegistryStore;
  tracking: TrackingService;
  artifacts: ArtifactStore;
  catalog: LineageCatalog;
  bus: EventBus;
  clock?: Clock;
}

export class RegistryContext {
  readonly store: RegistryStore;
  readonly clock: Clock;

  constructor(readonly deps: RegistryDeps) {
    this.store = deps.store;
    this.clock = deps.clock ?? systemClock;
  }

  now(): string {
    return this.clock.now().toISOString();
  }

  event(type: RegistryEventType, actor: Actor, at: string, payload: Record<string, unknown>): CairnEvent {
    return { type, at, actor: actor.user, payload };
  }

  /** Publishes events the store has committed, with their log sequence numbers. */
  publish(events: StoredEvent[]): void {
    for (const e of events) this.deps.bus.publish(e);
  }

  /** @throws MODEL_NOT_FOUND */
  async requireModel(name: string): Promise<RegisteredModel> {
    const model = await this.store.getModel(name);
    if (!model) throw new CairnError('MODEL_NOT_FOUND', `model ${name} not found`, { model: name });
    return model;
  }

  /** @throws MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND */
  async requireVersion(model: string, version: number): Promise<ModelVersion> {
    const found = await this.store.getVersion(model, version);
    if (found) return found;
    await this.requireModel(model);
    throw new CairnError('MODEL_VERSION_NOT_FOUND', `model ${model} has no version ${version}`, { model, version });
  }

  /** The version traced back to its run, dataset and feature definitions. */
  async trace(version: ModelVersion): Promise<LineageDetail> {
    const runId = version.lineage.runId;
    // A run is never deleted today; should one be, the lineage still shows what was recorded.
    const run = runId
      ? await this.deps.tracking.getRun(runId).catch((err: unknown) => {
          if (err instanceof CairnError && err.code === 'RUN_NOT_FOUND') return null;
          throw err;
        })
      : null;
    return traceLineage(version, run, this.deps.catalog);
  }
}
