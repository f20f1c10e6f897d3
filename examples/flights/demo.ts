/**
 * The end-to-end flights scenario that `make demo` runs, in embedded mode: it starts `cairn up`
 * the way a user would, then drives it through the SDK and the CLI. Later issues extend it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CairnClient } from '../../src/sdk/index.js';
import { prepareFlightsData } from './prepare-data.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CAIRN = path.join(ROOT, 'bin', 'cairn.js');
// CAIRN_DEMO_DIR lets the end-to-end test run the demo in a temp dir beside a user's own run.
const DEMO_DIR = process.env.CAIRN_DEMO_DIR ?? path.join(ROOT, '.cairn');
const HOME = path.join(DEMO_DIR, 'demo');
const DATA = path.join(DEMO_DIR, 'data', 'flights.parquet');

let stepNo = 0;
function step(title: string): void {
  console.log(`\n\x1b[1m${++stepNo}. ${title}\x1b[0m`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Whose API token the CLI uses: the data scientist's by default. */
const tokens: Record<'ada' | 'rey', string> = { ada: '', rey: '' };

/** Runs a `cairn` command as a user would type it (as `as`), echoing the command and its output. */
function cli(url: string, ...args: string[]): string {
  return cliAs('ada', url, ...args);
}

function cliAs(user: keyof typeof tokens, url: string, ...args: string[]): string {
  console.log(`   ${user}$ cairn ${args.map((a) => (/[\s*'(]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  const res = spawnSync(process.execPath, [CAIRN, ...args, '--url', url], { encoding: 'utf8', env: { ...process.env, CAIRN_TOKEN: tokens[user] } });
  const out = `${res.stdout}${res.stderr}`.trimEnd();
  if (out) console.log(out.replace(/^/gm, '     '));
  if (res.status !== 0) throw new Error(`cairn ${args[0]} failed with exit code ${res.status}`);
  return res.stdout;
}

async function waitUntilReady(client: CairnClient, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`cairn up exited with code ${server.exitCode}`);
    try {
      if ((await client.ready()).ready) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('cairn up did not become ready within 60 s');
}

async function main(): Promise<void> {
  console.log('Cairn demo: US domestic flights, January–June 2001 (3,000,000 rows)');

  step('Preparing the data');
  const t0 = performance.now();
  const { rows } = await prepareFlightsData(DATA);
  console.log(`   ${DATA} (${rows.toLocaleString('en-US')} flights with a flight_id) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  step('Creating API tokens: ada (data scientist, editor) and rey (reviewer, approver)');
  fs.rmSync(HOME, { recursive: true, force: true });
  for (const [user, role] of [['ada', 'editor'], ['rey', 'approver']] as const) {
    const res = spawnSync(process.execPath, [CAIRN, 'tokens', 'create', '--user', user, '--role', role, '--json'], { encoding: 'utf8', env: { ...process.env, CAIRN_HOME: HOME } });
    if (res.status !== 0) throw new Error(`cairn tokens create failed: ${res.stderr}`);
    tokens[user] = (JSON.parse(res.stdout) as { secret: string }).secret;
    console.log(`   $ cairn tokens create --user ${user} --role ${role}   → ${tokens[user].slice(0, 10)}… (stored only as a hash)`);
  }

  step('Starting cairn up (embedded: SQLite metadata and online store; auth on)');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawn(process.execPath, [CAIRN, 'up'], {
    env: { ...process.env, CAIRN_HOME: HOME, CAIRN_PORT: String(port), CAIRN_LOG_LEVEL: 'warn', CAIRN_AUTH: 'on' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const client = new CairnClient({ url, token: tokens.ada });
  const reviewer = new CairnClient({ url, token: tokens.rey });
  try {
    await waitUntilReady(client, server);
    console.log(`   listening on ${url} (API docs at ${url}/docs), data in ${HOME}`);
    await scenario(client, reviewer, url);
  } finally {
    server.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => server.once('exit', (c) => resolve(c)));
    console.log(`\ncairn up stopped (exit code ${code}).`);
  }
}

async function scenario(client: CairnClient, reviewer: CairnClient, url: string): Promise<void> {
  step('Registering the source and the entities');
  cli(url, 'sources', 'create', 'flights', '--path', DATA, '--timestamp-column', 'date', '--description', 'US domestic flights, Jan-Jun 2001');
  await client.entities.create({ name: 'flight', joinKeys: ['flight_id'], description: 'one scheduled flight' });
  await client.entities.create({ name: 'airport', joinKeys: ['airport'], description: 'a US airport (IATA code)' });
  console.log('   entities: flight (flight_id), airport (airport)');

  step('Defining features');
  const rate = 'avg(CASE WHEN delay > 15 THEN 1.0 ELSE 0.0 END)';
  const defs = [
    { name: 'dep_hour', entity: 'flight', valueType: 'int64', expression: 'hour(date)', description: 'scheduled departure hour' },
    { name: 'day_of_week', entity: 'flight', valueType: 'int64', expression: 'dayofweek(date)', description: '0 = Sunday' },
    { name: 'distance', entity: 'flight', valueType: 'float64', expression: 'distance', description: 'miles' },
    { name: 'origin_delay_rate_7d', entity: 'airport', valueType: 'float64', expression: rate, window: '7d', keyColumns: { airport: 'origin' }, description: 'share of departures delayed > 15 min over the last 7 days' },
    { name: 'origin_flights_24h', entity: 'airport', valueType: 'int64', expression: 'count(*)', window: '24h', keyColumns: { airport: 'origin' }, description: 'departures in the last 24 hours' },
    { name: 'dest_delay_rate_7d', entity: 'airport', valueType: 'float64', expression: rate, window: '7d', keyColumns: { airport: 'destination' }, description: 'share of arrivals delayed > 15 min over the last 7 days' },
  ] as const;
  for (const d of defs) {
    const f = await client.features.create({ ...d, source: 'flights' });
    console.log(`   ${f.name}@${f.version}  ${f.window ? `window ${f.window}, ` : ''}${f.expression}`);
  }
  const refused = await client.features
    .create({ name: 'bad', entity: 'flight', source: 'flights', valueType: 'float64', expression: 'origin' })
    .catch((e: Error) => e.message);
  console.log(`   a feature whose expression does not give its type is refused: ${refused}`);

  step('Versioning: dep_hour becomes the fractional hour');
  const v2 = await client.features.update('dep_hour', { expression: 'hour(date) + minute(date) / 60.0', valueType: 'float64', description: 'scheduled departure time of day, in hours' });
  console.log(`   dep_hour is now version ${v2.version} (changed: ${v2.changes.join(', ')}); version 1 stays readable:`);
  cli(url, 'features', 'versions', 'dep_hour');
  const noop = await client.features.update('dep_hour', { expression: 'hour(date) + minute(date) / 60.0' });
  console.log(`   an update that changes nothing mints no version (still version ${noop.version}, created: ${noop.created})`);

  step('Pinning the model inputs in a feature set');
  const set = await client.featureSets.create({
    name: 'flight_delay',
    description: 'inputs of the flight delay model',
    features: [
      'dep_hour@2',
      'day_of_week@1',
      'distance@1',
      { ref: 'origin_delay_rate_7d@1', joinOn: { airport: 'origin' } },
      { ref: 'origin_flights_24h@1', joinOn: { airport: 'origin' } },
      { ref: 'dest_delay_rate_7d@1', joinOn: { airport: 'destination' } },
    ],
  });
  console.log(`   flight_delay@${set.version}: ${set.features.map((f) => f.ref).join(', ')}`);

  step('Building the point-in-time training set for January (label: delayed > 15 minutes)');
  const built = await client.trainingSets.build({
    name: 'flights_jan',
    entityTable: {
      query: `SELECT flight_id, origin, destination, date AS event_time, delay > 15 AS delayed FROM read_parquet('${DATA}') WHERE date < TIMESTAMP '2001-02-01'`,
    },
    eventTimeColumn: 'event_time',
    featureSet: 'flight_delay@1',
  });
  const ds = built.dataset;
  console.log(`   dataset ${ds.name}@${ds.version}: ${ds.rowCount.toLocaleString('en-US')} rows in ${built.seconds.toFixed(2)} s (${Math.round(ds.rowCount / built.seconds).toLocaleString('en-US')} rows/s)`);
  console.log(`   content hash ${ds.contentHash}`);
  console.log(`   columns: ${ds.schema.map((c) => `${c.name} ${c.type}`).join(', ')}`);
  console.log(`   features: ${ds.features.map((f) => `${f.as} ← ${f.ref}`).join(', ')}`);

  step('Building February the same way, to evaluate on');
  const feb = await client.trainingSets.build({
    name: 'flights_feb',
    entityTable: {
      query: `SELECT flight_id, origin, destination, date AS event_time, delay > 15 AS delayed FROM read_parquet('${DATA}') WHERE date >= TIMESTAMP '2001-02-01' AND date < TIMESTAMP '2001-03-01'`,
    },
    eventTimeColumn: 'event_time',
    featureSet: 'flight_delay@1',
  });
  console.log(`   dataset flights_feb@${feb.dataset.version}: ${feb.dataset.rowCount.toLocaleString('en-US')} rows in ${feb.seconds.toFixed(2)} s`);

  step('Training a linear baseline and a gbdt on January, evaluated on February');
  const inputs = 'dep_hour,day_of_week,distance,origin,destination,origin_delay_rate_7d,origin_flights_24h,dest_delay_rate_7d';
  const common = ['--experiment', 'flight-delay', '--dataset', 'flights_jan@1', '--validation', 'flights_feb@1', '--label', 'delayed', '--features', inputs];
  const runIds: string[] = [];
  for (const args of [
    ['--trainer', 'linear', '--name', 'linear-baseline', '--param', 'l2=1'],
    ['--trainer', 'gbdt', '--name', 'gbdt-100', '--param', 'n_trees=100', '--param', 'learning_rate=0.1', '--param', 'max_leaves=31', '--param', 'min_samples_leaf=20'],
  ]) {
    const out = cli(url, 'train', ...common, ...args);
    runIds.push(/^run:\s+(run_\w+)$/m.exec(out)![1]!);
  }

  step('Comparing the two runs side by side');
  cli(url, 'runs', 'compare', ...runIds);

  step('Registering the best run as flight-delay version 1, with its model card');
  const best = (await client.runs.search({ experiments: ['flight-delay'], orderBy: 'metrics.valid_auc DESC', limit: 1 })).items[0]!;
  console.log(`   best run: ${best.name} (${best.id}), valid AUC ${best.metrics.valid_auc?.value.toFixed(4)}`);
  await client.models.create({ name: 'flight-delay', description: 'Will a US domestic flight depart more than 15 minutes late?' });
  const version = await client.models.register('flight-delay', {
    runId: best.id,
    card: {
      description: 'Probability that a scheduled US domestic flight departs more than 15 minutes late.',
      intendedUse: ['Ranking flights by delay risk for passenger notifications and crew planning'],
      trainingData: 'flights_jan@1: 508,239 US domestic flights of January 2001 with point-in-time airport features.',
      evaluationData: 'flights_feb@1: the 458,170 flights of February 2001, built with the same feature set.',
      modelArchitecture: 'gradient-boosted decision trees, 100 trees of up to 31 leaves, native categorical splits',
    },
  });
  console.log(`   flight-delay@${version.version} registered from ${best.id}; card revision ${version.card?.revision ?? 1} is pending review`);
  const early = await reviewer.models.transition('flight-delay', version.version, { stage: 'Production' }).catch((e: Error) => e.message);
  console.log(`   promoting before the card is complete and approved is refused: ${early}`);
  await client.models.editCard('flight-delay', version.version, {
    owners: [{ name: 'ada', contact: 'ada@example.com' }],
    license: 'Apache-2.0',
    limitations: ['Trained on January 2001 only: seasonal effects (summer storms, holidays) are not covered', 'Knows nothing about weather or aircraft'],
    ethicalConsiderations: [{ name: 'Delay predictions could be used to deprioritize passengers', mitigationStrategy: 'Use for operations and notifications only' }],
    outOfScopeUses: ['Pricing or passenger treatment decisions'],
  });
  const denied = await client.models.approve('flight-delay', version.version, { comment: 'looks good to me' }).catch((e: Error) => e.message);
  console.log(`   an editor cannot approve a card: ${denied}`);

  step('Review: rey approves the card and promotes the version to Production');
  cliAs('rey', url, 'models', 'approve', 'flight-delay', String(version.version), '--comment', 'metrics and limitations reviewed');
  cliAs('rey', url, 'models', 'transition', 'flight-delay', String(version.version), 'Production', '--comment', 'first production model');
  cli(url, 'models', 'production');

  step('The model card');
  cli(url, 'models', 'card', 'flight-delay', String(version.version), '--format', 'md');

  step('Lineage: from the model back to the data and feature versions, and forward again');
  cli(url, 'models', 'lineage', 'flight-delay', String(version.version));
  cli(url, 'lineage', 'feature', 'origin_delay_rate_7d@1');

  step('Materializing the airport features into the online store');
  cli(url, 'materialize', '--entity', 'airport', '--end', '2001-03-31T23:59:59Z');
  console.log('   …and incrementally up to the end of June, from where the first run ended:');
  cli(url, 'materialize', '--entity', 'airport', '--incremental', '--end', '2001-06-30T23:59:59Z');

  step('Reading feature vectors back, pinned to the versions the model trains on');
  cli(url, 'online', 'get', '--feature', 'origin_delay_rate_7d@1,airport=origin', '--feature', 'origin_flights_24h@1,airport=origin', '--feature', 'dest_delay_rate_7d@1,airport=destination', '--row', 'origin=ATL,destination=ORD', '--row', 'origin=ORD,destination=LAX', '--row', 'origin=SFO,destination=JFK');

  step('Summary');
  const features = await client.features.list();
  const datasets = await client.datasets.list();
  const materializations = await client.materializations.list();
  const runs = await client.runs.search({ experiments: ['flight-delay'], orderBy: 'metrics.valid_auc DESC' });
  console.log(`   features: ${features.items.length} (${features.items.map((f) => `${f.name}@${f.version}`).join(', ')})`);
  console.log(`   datasets: ${datasets.items.map((d) => `${d.name}@${d.version} (${d.rowCount.toLocaleString('en-US')} rows)`).join(', ')}`);
  console.log(`   materializations: ${materializations.items.map((m) => `${m.status} ${m.doneKeys} keys`).join('; ')}`);
  console.log(`   runs in flight-delay, best first: ${runs.items.map((r) => `${r.name} (valid AUC ${r.metrics.valid_auc?.value.toFixed(4)})`).join(', ')}`);
}

main().catch((err: unknown) => {
  console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
