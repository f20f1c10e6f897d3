import type { ComparedValue, MetricPoint, Run, RunComparison } from './model.js';

/** True unless every value is present and equal (a missing value differs from any value). */
function differs<T>(values: (T | null)[]): boolean {
  return values.some((v) => v === null || v !== values[0]);
}

function sideBySide<T>(maps: Record<string, T>[]): ComparedValue<T>[] {
  const keys = [...new Set(maps.flatMap((m) => Object.keys(m)))].sort();
  return keys.map((key) => {
    const values = maps.map((m) => (key in m ? m[key]! : null));
    return { key, values, differs: differs(values) };
  });
}

/**
 * Puts runs side by side: params and final metrics with the differing ones marked, and (when
 * `histories` is given, one per run in the same order) every metric's history aligned by step.
 * At a step logged several times, a run's value is the last one logged.
 */
export function buildComparison(runs: Run[], histories: Record<string, MetricPoint[]>[] | null): RunComparison {
  const comparison: RunComparison = {
    runs: runs.map(({ id, name, experiment, status, startTime, endTime, author, parentRunId }) => ({
      id,
      name,
      experiment,
      status,
      startTime,
      endTime,
      author,
      parentRunId,
    })),
    params: sideBySide(runs.map((r) => r.params)),
    metrics: sideBySide(runs.map((r) => Object.fromEntries(Object.entries(r.metrics).map(([k, p]) => [k, p.value])))),
    histories: [],
  };
  if (!histories) return comparison;
  const keys = [...new Set(histories.flatMap((h) => Object.keys(h)))].sort();
  comparison.histories = keys.map((key) => {
    const steps = [...new Set(histories.flatMap((h) => (h[key] ?? []).map((p) => p.step)))].sort((a, b) => a - b);
    const column = new Map(steps.map((s, j) => [s, j]));
    const values = histories.map((h) => {
      const row: (number | null)[] = steps.map(() => null);
      // Points come ordered by step then time, so the last write per step wins.
      for (const p of h[key] ?? []) row[column.get(p.step)!] = p.value;
      return row;
    });
    return { key, steps, values };
  });
  return comparison;
}
