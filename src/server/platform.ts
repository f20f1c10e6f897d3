import path from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import type { CairnConfig } from '../core/config.js';
import { EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/logger.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import { openDatabase, type Database } from '../storage/db.js';
import { EventLog } from '../storage/event-log.js';
import { LocalArtifactStore } from '../storage/local-artifact-store.js';
import {
  FeatureDefinitions,
  Materializer,
  OfflineEngine,
  OnlineReads,
  SqlFeatureStore,
  TrainingSets,
  openOnlineStore,
  type OnlineStore,
} from '../features/index.js';
import { SqlTokenStore, TokenService } from '../identity/index.js';
import { SqlTrackingStore, TrackingService, featureStoreCatalog } from '../tracking/index.js';
import { TrainingService } from '../training/index.js';
import { RegistryService, SqlRegistryStore, featureStoreLineage } from '../registry/index.js';
import { SqlTuningStore, TuningService } from '../tuning/index.js';
import { ServingService, featureStoreFillCatalog, loadServingConfig, type ServingConfig } from '../serving/index.js';
import { FeedbackService, PredictionLog, SqlPredictionLogStore, predictionSpoolDir, type PredictionLogOptions } from '../serving/index.js';

/**
 * Everything a Cairn process runs on, wired once: stores, engines and the domain services.
 * `cairn up`, the CLI's local commands and the tests all build it here, so there is one wiring.
 */
export interface Platform {
  config: CairnConfig;
  clock: Clock;
  logger: Logger;
  bus: EventBus;
  /** The durable log of domain events (registry events today). */
  events: EventLog;
  database: Database;
  artifacts: ArtifactStore;
  engine: OfflineEngine;
  online: OnlineStore;
  tokens: TokenService;
  features: {
    definitions: FeatureDefinitions;
    trainingSets: TrainingSets;
    materializer: Materializer;
    online: OnlineReads;
  };
  tracking: TrackingService;
  training: TrainingService;
  registry: RegistryService;
  tuning: TuningService;
  /** The models loaded for prediction; started by the app that serves them (`servingRoutes`). */
  serving: ServingService;
  /** Every served prediction, buffered and flushed in batches; spooled under $CAIRN_HOME/spool/predictions when the store fails. */
  predictionLog: PredictionLog;
  /** Feedback on predictions, and reading the prediction log. */
  feedback: FeedbackService;
  /** Waits for background work, then closes every store. */
  close(): Promise<void>;
}

export interface PlatformOptions {
  /** Serving settings; default from the CAIRN_SERVE_* variables. */
  serving?: ServingConfig;
  /**
   * Mark trainings and materializations left running by a stopped server as failed (default
   * true). `cairn serve` says false: it runs beside a `cairn up` whose work is not interrupted.
   */
  recoverInterrupted?: boolean;
  /**
   * How this process's prediction log writes (default: itself, every second). `cairn serve`'s
   * workers say spool-only: the primary writes their records (see PredictionLog).
   */
  predictionLog?: Pick<PredictionLogOptions, 'writer' | 'flushIntervalMs'>;
}

export async function openPlatform(config: CairnConfig, logger: Logger, clock: Clock = systemClock, options: PlatformOptions = {}): Promise<Platform> {
  const opened: { close(): Promise<void> }[] = [];
  try {
    const database = await openDatabase(config.database);
    opened.push(database);
    const artifacts = await LocalArtifactStore.open(path.join(config.home, 'artifacts'));
    const engine = await OfflineEngine.open();
    opened.push(engine);
    const online = await openOnlineStore({ redisUrl: config.redisUrl, sqlitePath: path.join(config.home, 'online.db') });
    opened.push(online);
    const predictionStore = new SqlPredictionLogStore(database.db, database.dialect);
    // Opened after the database and closed before it: its close() flushes into it.
    const predictionLog = await PredictionLog.open({ store: predictionStore, spoolDir: predictionSpoolDir(config.home), logger, clock, ...options.predictionLog });
    opened.push(predictionLog);

    const bus = new EventBus((err, event) => logger.error({ err, event: event.type }, 'event handler failed'));
    const store = new SqlFeatureStore(database.db);
    const definitions = new FeatureDefinitions(store, engine, bus, clock);
    const trainingSets = new TrainingSets(store, definitions, engine, artifacts, bus, path.join(config.home, 'tmp'), clock);
    const materializer = new Materializer(store, definitions, engine, online, bus, logger, clock);
    const recover = options.recoverInterrupted !== false;
    const interrupted = recover ? await materializer.recoverInterrupted() : 0;
    if (interrupted > 0) logger.warn({ interrupted }, 'marked interrupted materializations as failed; resume them');

    const tracking = new TrackingService(
      new SqlTrackingStore(database.db, database.dialect),
      artifacts,
      bus,
      clock,
      featureStoreCatalog(definitions, trainingSets),
    );
    const training = new TrainingService(tracking, trainingSets, artifacts, path.join(config.home, 'tmp'), logger);
    const registry = new RegistryService({
      store: new SqlRegistryStore(database.db, database.dialect),
      tracking,
      artifacts,
      catalog: featureStoreLineage(definitions, trainingSets),
      bus,
      clock,
    });
    const orphaned = recover ? await training.recoverInterrupted({ user: 'cairn', role: 'admin', tokenId: null }) : 0;
    const events = new EventLog(database.db);
    const serving = new ServingService({
      registry,
      catalog: featureStoreFillCatalog(definitions, trainingSets),
      bus,
      events,
      logger,
      config: options.serving ?? loadServingConfig(process.env),
    });
    if (orphaned > 0) logger.warn({ orphaned }, 'marked trainings interrupted by a stop as failed');

    return {
      config,
      clock,
      logger,
      bus,
      events,
      database,
      artifacts,
      engine,
      online,
      tokens: new TokenService(new SqlTokenStore(database.db), clock),
      features: { definitions, trainingSets, materializer, online: new OnlineReads(definitions, online) },
      tracking,
      training,
      registry,
      tuning: new TuningService(new SqlTuningStore(database.db, database.dialect), tracking, clock),
      serving,
      predictionLog,
      feedback: new FeedbackService({ store: predictionStore, log: predictionLog, models: registry, clock }),
      close: async () => {
        await serving.close();
        await Promise.all([materializer.drain(), training.drain()]);
        for (const c of opened.reverse()) await c.close();
      },
    };
  } catch (err) {
    for (const c of opened.reverse()) await c.close().catch(() => {});
    throw err;
  }
}
