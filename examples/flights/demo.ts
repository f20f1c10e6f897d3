/**
 * The end-to-end flights scenario that `make demo` runs, in embedded mode: it starts `cairn up`
 * the way a user would, then drives it through the SDK and the CLI. Later issues extend it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CairnClient, CairnError } from '../../src/sdk/index.js';
import { DuckDb } from '../../src/storage/duckdb.js';
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
function cli(url: string, ...args: string[]): Promise<string> {
  return cliAs('ada', url, ...args);
}

/**
 * Runs a `cairn` command as a user would type it (as `user`), echoing the command and its output.
 * Asynchronously: a synchronous wait of minutes would leave the SDK's pooled connections to be
 * closed by the server unseen.
 */
async function cliAs(user: keyof typeof tokens, url: string, ...args: string[]): Promise<string> {
  console.log(`   ${user}$ cairn ${args.map((a) => (/[\s*'(]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  const child = spawn(process.execPath, [CAIRN, ...args, '--url', url], { env: { ...process.env, CAIRN_HOME: HOME, CAIRN_TOKEN: tokens[user] }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const out = `${stdout}${stderr}`.trimEnd();
  if (out) console.log(out.replace(/^/gm, '     '));
  if (status !== 0) throw new Error(`cairn ${args[0]} failed with exit code ${status}`);
  return stdout;
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
  await cli(url, 'sources', 'create', 'flights', '--path', DATA, '--timestamp-column', 'date', '--description', 'US domestic flights, Jan-Jun 2001');
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
  await cli(url, 'features', 'versions', 'dep_hour');
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
    const out = await cli(url, 'train', ...common, ...args);
    runIds.push(/^run:\s+(run_\w+)$/m.exec(out)![1]!);
  }

  step('Comparing the two runs side by side');
  await cli(url, 'runs', 'compare', ...runIds);

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
  await client.models.editCard('flight-delay', version.version, CARD_COMPLETION);
  const denied = await client.models.approve('flight-delay', version.version, { comment: 'looks good to me' }).catch((e: Error) => e.message);
  console.log(`   an editor cannot approve a card: ${denied}`);

  step('Review: rey approves the card and promotes the version to Production');
  await cliAs('rey', url, 'models', 'approve', 'flight-delay', String(version.version), '--comment', 'metrics and limitations reviewed');
  await cliAs('rey', url, 'models', 'transition', 'flight-delay', String(version.version), 'Production', '--comment', 'first production model');
  await cli(url, 'models', 'production');

  step('The model card');
  await cli(url, 'models', 'card', 'flight-delay', String(version.version), '--format', 'md');

  step('Lineage: from the model back to the data and feature versions, and forward again');
  await cli(url, 'models', 'lineage', 'flight-delay', String(version.version));
  await cli(url, 'lineage', 'feature', 'origin_delay_rate_7d@1');

  step('Materializing the airport features into the online store');
  await cli(url, 'materialize', '--entity', 'airport', '--end', '2001-03-31T23:59:59Z');
  console.log('   …and incrementally up to the end of June, from where the first run ended:');
  await cli(url, 'materialize', '--entity', 'airport', '--incremental', '--end', '2001-06-30T23:59:59Z');

  step('Reading feature vectors back, pinned to the versions the model trains on');
  await cli(url, 'online', 'get', '--feature', 'origin_delay_rate_7d@1,airport=origin', '--feature', 'origin_flights_24h@1,airport=origin', '--feature', 'dest_delay_rate_7d@1,airport=destination', '--row', 'origin=ATL,destination=ORD', '--row', 'origin=ORD,destination=LAX', '--row', 'origin=SFO,destination=JFK');

  await tuneAndRegister(client, url, inputs.split(','));
  await serveAndReplay(client, url);

  step('Summary');
  const features = await client.features.list();
  const datasets = await client.datasets.list();
  const materializations = await client.materializations.list();
  const runs = await client.runs.search({ experiments: ['flight-delay'], orderBy: 'metrics.valid_auc DESC' });
  console.log(`   features: ${features.items.length} (${features.items.map((f) => `${f.name}@${f.version}`).join(', ')})`);
  console.log(`   datasets: ${datasets.items.map((d) => `${d.name}@${d.version} (${d.rowCount.toLocaleString('en-US')} rows)`).join(', ')}`);
  console.log(`   materializations: ${materializations.items.map((m) => `${m.status} ${m.doneKeys} keys`).join('; ')}`);
  console.log(`   runs in flight-delay, best first: ${runs.items.map((r) => `${r.name} (valid AUC ${r.metrics.valid_auc?.value.toFixed(4)})`).join(', ')}`);
  const production = await client.models.byStage('flight-delay', 'Production').catch(() => null);
  if (production) console.log(`   flight-delay in Production: version ${production.version}`);
}

/** The fields a card needs before Production that registration does not ask for. */
const CARD_COMPLETION = {
  owners: [{ name: 'ada', contact: 'ada@example.com' }],
  license: 'Apache-2.0',
  limitations: ['Trained on January 2001 only: seasonal effects (summer storms, holidays) are not covered', 'Knows nothing about weather or aircraft'],
  ethicalConsiderations: [{ name: 'Delay predictions could be used to deprioritize passengers', mitigationStrategy: 'Use for operations and notifications only' }],
  outOfScopeUses: ['Pricing or passenger treatment decisions'],
};

async function tuneAndRegister(client: CairnClient, url: string, features: string[]): Promise<void> {
  step('Tuning the gbdt with TPE: 30 trials on 2 workers, pruning hopeless trials per boosting round (median rule)');
  const studyFile = path.join(DEMO_DIR, 'flights-gbdt-study.json');
  const study = {
    experiment: 'flight-delay-tuning',
    metric: 'valid_auc',
    direction: 'maximize',
    space: {
      learning_rate: { type: 'float', low: 0.02, high: 0.5, log: true },
      max_leaves: { type: 'int', low: 4, high: 63 },
      min_samples_leaf: { type: 'int', low: 10, high: 2000, log: true },
      feature_subsample: { type: 'float', low: 0.5, high: 1 },
      l2: { type: 'float', low: 0.001, high: 10, log: true },
    },
    fixedParams: { n_trees: 40 },
    target: { type: 'trainer', trainer: 'gbdt', dataset: 'flights_jan@1', validation: { dataset: 'flights_feb@1' }, label: 'delayed', features },
    sampler: { type: 'tpe' },
    pruner: { type: 'median', nStartupTrials: 5, nWarmupSteps: 5 },
    budget: { trials: 30 },
    seed: 7,
  };
  fs.writeFileSync(studyFile, JSON.stringify(study, null, 2));
  console.log(`   search space: ${Object.entries(study.space).map(([k, v]) => `${k} ${v.type} [${v.low}, ${v.high}]${'log' in v ? ' log' : ''}`).join(', ')}`);
  await cli(url, 'tune', 'create', 'flights-gbdt', '--file', studyFile);
  await cli(url, 'tune', 'run', 'flights-gbdt', '--workers', '2');
  const progress = await client.tuning.progress('flights-gbdt');
  const trials = await client.tuning.listTrials('flights-gbdt');
  const combos = new Set(trials.map((t) => JSON.stringify(Object.entries(t.params).sort())));
  console.log(`   ${trials.length} trials, ${combos.size} distinct parameter combinations; ${progress.counts.pruned} pruned before their 40th tree`);
  const best = progress.best!;
  console.log(`   best: trial ${best.trial}, valid AUC ${best.value.toFixed(4)} with ${JSON.stringify(best.params)}`);

  step("Registering the best trial's model as flight-delay version 2, reviewed and sent to Staging");
  const v2 = await client.models.register('flight-delay', {
    runId: best.runId!,
    card: {
      description: 'Probability that a scheduled US domestic flight departs more than 15 minutes late (tuned).',
      intendedUse: ['Ranking flights by delay risk for passenger notifications and crew planning'],
      trainingData: 'flights_jan@1: 508,239 US domestic flights of January 2001 with point-in-time airport features.',
      evaluationData: 'flights_feb@1: the 458,170 flights of February 2001, built with the same feature set.',
      modelArchitecture: `gradient-boosted decision trees, 40 trees, hyperparameters from study flights-gbdt (trial ${best.trial}, TPE)`,
      ...CARD_COMPLETION,
    },
  });
  console.log(`   flight-delay@${v2.version} registered from the trial's run ${best.runId}`);
  await cliAs('rey', url, 'models', 'approve', 'flight-delay', String(v2.version), '--comment', 'tuning study reviewed');
  await cliAs('rey', url, 'models', 'transition', 'flight-delay', String(v2.version), 'Staging', '--comment', 'tuned challenger');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Sends February flights one request each (`concurrency` at a time) and returns their outcomes by prediction id. */
async function replay(client: CairnClient, rows: Record<string, number | string | boolean>[], concurrency: number) {
  const latencies: number[] = [];
  const outcomes: { predictionId: string; actual: number }[] = [];
  const versions = new Map<number, number>();
  let refused = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < rows.length) {
        const { delayed, ...instance } = rows[next++]!;
        const t = performance.now();
        try {
          const res = await client.predictions.predict('flight-delay', [instance]);
          latencies.push(performance.now() - t);
          versions.set(res.version, (versions.get(res.version) ?? 0) + 1);
          outcomes.push({ predictionId: res.predictions[0]!.id, actual: delayed ? 1 : 0 });
        } catch (err) {
          if (!(err instanceof CairnError && err.code === 'VALIDATION_FAILED')) throw err;
          refused++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { latencies, outcomes, versions, refused };
}

async function serveAndReplay(client: CairnClient, url: string): Promise<void> {
  step('Serving: February flights as live requests to the Production model, their real outcomes sent back as feedback');
  const febFile = path.join(DEMO_DIR, 'flights_feb.parquet');
  await client.datasets.download('flights_feb', 1, febFile);
  const duck = await DuckDb.open();
  const rows = await duck
    .all<Record<string, number | string | boolean>>(
      `SELECT dep_hour, day_of_week, distance, origin, destination, delayed FROM read_parquet('${febFile}') USING SAMPLE reservoir(3000 ROWS) REPEATABLE (42)`,
    )
    .finally(() => duck.close());
  console.log('   each request carries the flight\'s own fields and its airports; the 7-day airport rates come from the online store, at the versions the model was trained on:');
  console.log(`   POST ${url}/v1/models/flight-delay/predict ${JSON.stringify({ instances: [(({ delayed: _d, ...i }) => i)(rows[0]!)] })}`);
  const bad = await client.predictions.predict('flight-delay', [{ dep_hour: 7.5, day_of_week: 3, distanse: 500, origin: 'ATL', destination: 'ORD' }]).catch((e: Error) => e.message);
  console.log(`   a bad request is refused whole, with every problem: ${bad}`);

  const first = await replay(client, rows.slice(0, 2000), 16);
  const lat = first.latencies;
  console.log(
    `   ${lat.length} predictions (${first.refused} refused), 16 at a time: latency p50 ${percentile(lat, 50).toFixed(1)} ms, p95 ${percentile(lat, 95).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms (client side, through the SDK)`,
  );
  const fed = await client.predictions.feedback(first.outcomes);
  console.log(`   feedback: ${fed.recorded} outcomes recorded, ${fed.unknown.length} unknown ids`);

  step('Promoting the tuned version to Production: the server swaps it in while it serves');
  await cliAs('rey', url, 'models', 'transition', 'flight-delay', '2', 'Production', '--comment', 'tuned model beats version 1 offline');
  const second = await replay(client, rows.slice(2000), 16);
  console.log(`   the next ${second.latencies.length} requests were answered by ${[...second.versions].map(([v, n]) => `version ${v} (${n})`).join(', ')}: version 1 answers until version 2 is loaded, and no request fails or waits for the swap`);
  await client.predictions.feedback(second.outcomes);

  step('Live performance per model version, from the prediction log joined with the feedback');
  await cli(url, 'predictions', 'performance', 'flight-delay');
}

main().catch((err: unknown) => {
  console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
