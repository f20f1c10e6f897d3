/**
 * Objectives for the study targets that need no user code: a built-in trainer through
 * TrainingService (the training run is the trial's run), or an external command.
 */
import { spawn } from 'node:child_process';
import { CairnError } from '../core/errors.js';
import type { Actor } from '../identity/index.js';
import type { TrainingService } from '../training/index.js';
import type { TrackingService } from '../tracking/index.js';
import type { Study } from './model.js';
import type { Objective } from './run-study.js';

/** The objective of a study's target; throws BAD_REQUEST for a `function` target (it needs runStudy with code). */
export function targetObjective(study: Study, deps: { training: TrainingService; tracking: TrackingService; actor: Actor; env?: Record<string, string> }): Objective {
  const target = study.target;
  if (target.type === 'function') {
    throw new CairnError('BAD_REQUEST', `study ${study.name} evaluates a TypeScript function: run it with runStudy() in the SDK`, { study: study.name });
  }
  const metricOf = async (runId: string) => {
    const run = await deps.tracking.getRun(runId);
    const point = run.metrics[study.metric];
    if (!point) throw new Error(`run ${runId} has no metric ${study.metric} (has ${Object.keys(run.metrics).join(', ') || 'none'})`);
    return point.value;
  };
  if (target.type === 'trainer') {
    return async (params, trial) => {
      const run = await deps.training.start(
        {
          experiment: study.experiment,
          runName: `${study.name}-trial-${trial.number}`,
          trainer: target.trainer,
          dataset: target.dataset,
          label: target.label,
          params,
          parentRunId: study.runId,
          tags: { 'cairn.study': study.name, 'cairn.trial': String(trial.number) },
          ...(target.validation ? { validation: target.validation } : {}),
          ...(target.features ? { features: target.features } : {}),
          ...(target.categorical ? { categorical: target.categorical } : {}),
        },
        deps.actor,
      );
      await trial.attachRun(run.id);
      const outcome = await deps.training.wait(run.id);
      if (!outcome || outcome.error) throw new Error(outcome?.error ?? 'training did not run in this process');
      // Intermediate values for the study's view of the trial (the trainer logged them to the run).
      const key = target.intermediateMetric ?? 'valid_loss';
      const history = await deps.tracking.getMetricHistory(run.id, key);
      for (const p of history.slice(-1)) await trial.report(p.step, p.value).catch(() => {});
      return metricOf(run.id);
    };
  }
  return async (params, trial) => {
    const env: Record<string, string> = {
      ...process.env as Record<string, string>,
      ...(deps.env ?? {}),
      CAIRN_PARAMS: JSON.stringify(params),
      CAIRN_TRIAL_ID: trial.id,
      CAIRN_STUDY: study.name,
      ...(trial.runId ? { CAIRN_RUN_ID: trial.runId } : {}),
    };
    for (const [k, v] of Object.entries(params)) env[`CAIRN_PARAM_${k.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = String(v);
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(target.command, { shell: true, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`command exited with ${code}: ${err.trim().split('\n').pop() ?? ''}`))));
    });
    const last = output.trim().split('\n').pop()?.trim() ?? '';
    const value = Number(last);
    if (last !== '' && Number.isFinite(value)) return value;
    if (trial.runId) return metricOf(trial.runId);
    throw new Error(`the command printed no value as its last line: ${JSON.stringify(last)}`);
  };
}
