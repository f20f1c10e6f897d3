/**
 * Instances that carry entity keys instead of feature values: the service reads the model's
 * features from the online store, pinned to the feature versions the model was trained on, and
 * values given in the instance win over looked-up ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/platform.js';
import { ROOT } from '../support/registry.js';
import { eventually, promote, seedFlights, trainVersion } from './helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const AT = '2001-01-15T10:00:00.000Z';

describe('online feature fill', () => {
  let s: TestServer;
  const predict = async (payload: unknown) => {
    const res = await s.app.inject({ method: 'POST', url: '/v1/models/delay/predict', payload: payload as object });
    return { status: res.statusCode, body: res.json() as Json };
  };
  const logged = async (id: string) => {
    await s.platform.predictionLog.flush();
    return s.platform.feedback.getPrediction(id);
  };

  beforeAll(async () => {
    s = await startTestServer();
    await seedFlights(s.platform, s.home);
    await promote(s.platform, 'delay', await trainVersion(s.platform, 'delay', 2));
    // dep_hour gets a version 2 after the model was trained on version 1: both are online.
    await s.platform.features.definitions.updateFeature('dep_hour', { expression: '23 - hour(date)' }, ROOT);
    await s.platform.online.write('flight', [
      { key: [42], values: { 'dep_hour@1': { value: 7, eventTime: AT }, 'dep_hour@2': { value: 16, eventTime: AT }, 'distance@1': { value: 500, eventTime: AT } } },
      { key: [43], values: { 'dep_hour@1': { value: 19, eventTime: AT }, 'distance@1': { value: 1700, eventTime: AT } } },
    ]);
    await eventually(async () => (await predict({ instance: { dep_hour: 7, distance: 500, origin: 'ATL' } })).status === 200);
  }, 120_000);
  afterAll(async () => s?.close());

  it('fills the features from the online store at the versions the model was trained on', async () => {
    const res = await predict({ instances: [{ flight_id: 42, origin: 'ATL' }, { flight_id: 43, origin: 'SFO' }] });
    expect(res.status).toBe(200);
    const explicit = await predict({ instances: [{ dep_hour: 7, distance: 500, origin: 'ATL' }, { dep_hour: 19, distance: 1700, origin: 'SFO' }] });
    expect(res.body.predictions.map((p: Json) => p.value)).toEqual(explicit.body.predictions.map((p: Json) => p.value));
    const first = await logged(res.body.predictions[0].id);
    expect(first.features).toEqual({ dep_hour: 7, distance: 500, origin: 'ATL' });
    expect(first.entities).toEqual({ flight_id: '42' });
  });

  it('lets values given in the instance win over looked-up ones', async () => {
    const res = await predict({ instance: { flight_id: 42, origin: 'ATL', dep_hour: 16 } });
    expect(res.status).toBe(200);
    expect((await logged(res.body.predictions[0].id)).features).toEqual({ dep_hour: 16, distance: 500, origin: 'ATL' });
  });

  it('refuses an instance whose key has no value in the online store, naming the key and version', async () => {
    const res = await predict({ instances: [{ flight_id: 42, origin: 'ATL' }, { flight_id: 999, origin: 'ATL' }] });
    expect(res.status).toBe(400);
    expect(res.body.error.details.errors).toEqual([
      { path: 'instances[1].dep_hour', reason: 'null is not allowed (no value in the online store for flight_id=999, dep_hour@1): the model never saw dep_hour missing in training' },
      { path: 'instances[1].distance', reason: 'null is not allowed (no value in the online store for flight_id=999, distance@1): the model never saw distance missing in training' },
    ]);
    // The key's type matters to the store, as in materialization: '42' is not 42.
    expect((await predict({ instance: { flight_id: '42', origin: 'ATL' } })).status).toBe(400);
    expect((await predict({ instance: { flight_id: { id: 42 }, origin: 'ATL' } })).body.error.details.errors).toEqual([
      { path: 'instance.flight_id', reason: 'expected an entity key (a string or number), got an object' },
    ]);
  });

  it('fills from entity-key tensors in the Open Inference Protocol too', async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/v2/models/delay/infer',
      payload: { inputs: [{ name: 'flight_id', datatype: 'INT64', shape: [1], data: [43] }, { name: 'origin', datatype: 'BYTES', shape: [1], data: ['SFO'] }] },
    });
    expect(res.statusCode).toBe(200);
    const explicit = await predict({ instance: { dep_hour: 19, distance: 1700, origin: 'SFO' } });
    expect(res.json().outputs[0].data[0]).toBe(explicit.body.predictions[0].value);
  });
});
