/**
 * Following the registry: a promotion swaps the new version in while requests keep coming, with no
 * request failing; Staging follows its own transitions; another process's promotions arrive
 * through the durable event log; explicitly addressed versions stay in a bounded cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/event-bus.js';
import { createLogger } from '../../src/core/logger.js';
import { DEFAULT_SERVING_CONFIG, ServingService, featureStoreFillCatalog, type ServingConfig } from '../../src/serving/index.js';
import { startTestServer, type TestServer } from '../support/platform.js';
import { eventually, promote, seedFlights, trainVersion } from './helpers.js';

const FLIGHT = { dep_hour: 7, distance: 500, origin: 'ATL' };

describe('following the registry', () => {
  let s: TestServer;
  const others: ServingService[] = [];
  const predict = async (url = '/v1/models/delay/predict') => {
    const res = await s.app.inject({ method: 'POST', url, payload: { instance: FLIGHT } });
    return { status: res.statusCode, version: res.statusCode === 200 ? (res.json().version as number) : null, body: res.body };
  };
  /** A serving service as another process has it: same database, its own event bus. */
  const otherProcess = async (config: Partial<ServingConfig>) => {
    const p = s.platform;
    const service = new ServingService({
      registry: p.registry,
      catalog: featureStoreFillCatalog(p.features.definitions, p.features.trainingSets),
      bus: new EventBus(),
      events: p.events,
      logger: createLogger('silent'),
      config: { ...DEFAULT_SERVING_CONFIG, pollMs: 50, ...config },
    });
    others.push(service);
    await service.start();
    return service;
  };
  const servedVersion = async (service: ServingService) => {
    const v = await service.byStage('delay', 'Production');
    v.release();
    return v.version;
  };

  beforeAll(async () => {
    s = await startTestServer();
    await seedFlights(s.platform, s.home);
    await promote(s.platform, 'delay', await trainVersion(s.platform, 'delay', 1));
    for (const seed of [2, 3]) await trainVersion(s.platform, 'delay', seed, 12);
    await eventually(async () => (await predict()).version === 1);
  }, 180_000);
  afterAll(async () => {
    for (const o of others) await o.close();
    await s?.close();
  });

  it('loads the Production versions at start, and serves only the configured models', async () => {
    const all = await otherProcess({});
    expect(all.loadedVersions().map((v) => `${v.model}@${v.version}`)).toEqual(['delay@1']);
    expect(all.ready).toBe(true);
    const listed = await otherProcess({ models: ['churn'] });
    expect(listed.loadedVersions()).toEqual([]);
    await expect(listed.byStage('delay', 'Production')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: 'model delay is not served here (CAIRN_SERVE_MODELS lists churn)' });
  });

  it('swaps a promoted version in under concurrent load without failing a request', async () => {
    const elsewhere = await otherProcess({});
    let stop = false;
    let promoted = false;
    const seen: { status: number; version: number | null; afterPromotion: boolean }[][] = [];
    const client = async (k: number) => {
      const mine: (typeof seen)[number] = (seen[k] = []);
      while (!stop) {
        const r = await predict();
        mine.push({ status: r.status, version: r.version, afterPromotion: promoted });
      }
    };
    const clients = Array.from({ length: 8 }, (_, k) => client(k));
    await eventually(() => seen.flat().length >= 80);
    await promote(s.platform, 'delay', 2);
    promoted = true;
    await eventually(() => seen.flat().filter((r) => r.afterPromotion && r.version === 2).length >= 80);
    stop = true;
    await Promise.all(clients);

    const all = seen.flat();
    expect(all.filter((r) => r.status !== 200)).toEqual([]);
    expect(new Set(all.map((r) => r.version))).toEqual(new Set([1, 2]));
    // Each client sees version 1, then version 2, never back.
    for (const mine of seen) {
      const versions = mine.map((r) => r.version!);
      expect(versions).toEqual([...versions].sort());
    }
    // Version 1 left every slot: its session is released once its requests are done.
    await eventually(() => !s.platform.serving.loadedVersions().some((v) => v.version === 1));
    // The other process reads the promotion from the event log.
    await eventually(async () => (await servedVersion(elsewhere)) === 2);
  });

  it('follows Staging once it is asked for', async () => {
    const staging = '/v1/models/delay/stages/staging/predict';
    expect((await predict(staging)).status).toBe(404);
    await promote(s.platform, 'delay', 3, 'Staging');
    await eventually(async () => (await predict(staging)).version === 3);
    expect((await predict()).version).toBe(2);
  });

  it('keeps explicitly addressed versions in a bounded cache', async () => {
    const small = await otherProcess({ versionCacheSize: 1 });
    const loaded = () => small.loadedVersions().map((v) => v.version).sort();
    expect(loaded()).toEqual([2]);
    (await small.byVersion('delay', 1)).release();
    expect(loaded()).toEqual([1, 2]);
    (await small.byVersion('delay', 3)).release();
    await eventually(() => loaded().join() === '2,3');
    // Version 2 is Production: addressing it by number reuses that session.
    (await small.byVersion('delay', 2)).release();
    expect(loaded()).toEqual([2, 3]);
  });
});
