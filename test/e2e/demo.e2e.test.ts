/** `make demo` as a user runs it: the whole flights scenario against a real `cairn up`. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/backends.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('the flights demo', () => {
  const dir = tempDir('cairn-demo-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs end to end and prints what it built', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'examples/flights/demo.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CAIRN_DEMO_DIR: dir },
      timeout: 600_000,
    });
    const out = res.stdout + res.stderr;
    expect(res.status, out).toBe(0);
    expect(out).toContain('3,000,000 flights');
    expect(out).toMatch(/dep_hour is now version 2 \(changed: valueType, expression, description\)/);
    expect(out).toContain('a feature whose expression does not give its type is refused');
    expect(out).toMatch(/dataset flights_jan@1: 508,239 rows/);
    expect(out).toMatch(/content hash sha256:[0-9a-f]{64}/);
    expect(out).toMatch(/status:\s+succeeded/);
    expect(out).toMatch(/ATL\s+ORD\s+0\.\d+\s+\d+\s+0\.\d+/);
    expect(out).toMatch(/valid_auc\s+0\.6\d+/);
    expect(out).toMatch(/\* trainer\s+linear\s+gbdt/);
    expect(out).toContain('promoting before the card is complete and approved is refused');
    expect(out).toContain('an editor cannot approve a card: approving a model card needs the approver role; ada has editor');
    expect(out).toMatch(/flight-delay\s+1\s+\S+\s+-\s+r2 approved/);
    expect(out).toContain('# Model card: flight-delay version 1');
    expect(out).toMatch(/origin_delay_rate_7d@1\s+airport\s+float64\s+7d/);
    expect(out).toMatch(/trials:\s+30\/30 done \(0 running, \d+ complete, \d+ pruned, 0 failed\)/);
    expect(out).toContain('30 trials, 30 distinct parameter combinations');
    expect(out).toMatch(/flight-delay@2 registered from the trial's run run_\w+/);
    expect(out).toContain('instances[0].distanse: unknown field (did you mean distance?)');
    expect(out).toMatch(/2000 predictions \(0 refused\), 16 at a time: latency p50 [\d.]+ ms/);
    expect(out).toContain('feedback: 2000 outcomes recorded, 0 unknown ids');
    expect(out).toMatch(/answered by (version 1 \(\d+\), )?version 2 \(\d+\)/);
    expect(out).toMatch(/^\s+1\s+\d+\s+\d+\s+accuracy 0\.\d+, AUC 0\.\d+/m);
    expect(out).toMatch(/^\s+2\s+\d+\s+\d+\s+accuracy 0\.\d+, AUC 0\.\d+/m);
    expect(out).toContain('flight-delay in Production: version 2');
    expect(out).toContain('cairn up stopped (exit code 0)');
  }, 600_000);
});
