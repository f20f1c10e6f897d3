/**
 * Optuna as a reference point, when Debian's python3-optuna is installed: a Python process runs
 * Optuna's ask-and-tell interface and this process evaluates each asked point with the very same
 * objective as Cairn's studies, one JSON line each way. Optuna's defaults throughout (TPESampler:
 * 10 startup trials, 24 EI candidates, univariate), seeded like Cairn's studies.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Params, SearchSpace } from '../src/tuning/index.js';

const PYTHON = '/usr/bin/python3';

export type OptunaSampler = 'tpe' | 'tpe-fixed' | 'random';

const DRIVER = `
import json, math, sys
import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe import _truncnorm
optuna.logging.set_verbosity(optuna.logging.WARNING)

# Optuna 3.1 (Debian's) leaves log(scale) out of the truncated normal's log density (optuna#5109, fixed
# by #5110), so its Parzen estimators are not normalised. "tpe-fixed" applies that fix.
_logpdf = _truncnorm.logpdf
SCALE_MISSING = abs(float(_logpdf(np.array([0.0]), -10.0, 10.0, 0.0, 2.0)[0]) + 0.5 * math.log(2 * math.pi)) < 1e-6
fixed = False
def logpdf(x, a, b, loc=0, scale=1):
    out = _logpdf(x, a, b, loc, scale)
    return out - np.log(scale) if fixed and SCALE_MISSING else out
_truncnorm.logpdf = logpdf

def distribution(s):
    if s["type"] == "float":
        return FloatDistribution(s["low"], s["high"], log=bool(s.get("log", False)))
    if s["type"] == "int":
        return IntDistribution(s["low"], s["high"], log=bool(s.get("log", False)), step=s.get("step", 1))
    return CategoricalDistribution(s["choices"])

def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\\n")
    sys.stdout.flush()

study, space, trial = None, None, None
for line in sys.stdin:
    msg = json.loads(line)
    if msg["op"] == "info":
        reply({"version": optuna.__version__, "scaleMissing": SCALE_MISSING})
    elif msg["op"] == "new":
        space = {k: distribution(v) for k, v in msg["space"].items()}
        fixed = msg["sampler"] == "tpe-fixed"
        sampler = optuna.samplers.RandomSampler(seed=msg["seed"]) if msg["sampler"] == "random" else optuna.samplers.TPESampler(seed=msg["seed"])
        study = optuna.create_study(direction=msg["direction"], sampler=sampler)
        reply({})
    elif msg["op"] == "ask":
        trial = study.ask(space)
        reply({"params": trial.params})
    elif msg["op"] == "tell":
        study.tell(trial, msg["value"])
        reply({})
`;

/** True when /usr/bin/python3 can import optuna. */
export function optunaAvailable(): boolean {
  return fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import optuna'], { stdio: 'ignore' }).status === 0;
}

/** One Python process that runs Optuna studies one after another. */
export class OptunaDriver {
  private readonly lines: AsyncIterator<string>;
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly dir: string,
  ) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static start(): OptunaDriver {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-optuna-'));
    const script = path.join(dir, 'driver.py');
    fs.writeFileSync(script, DRIVER);
    return new OptunaDriver(spawn(PYTHON, [script]), dir);
  }

  private async call<T>(msg: object): Promise<T> {
    this.child.stdin.write(JSON.stringify(msg) + '\n');
    const next = await this.lines.next();
    if (next.done) throw new Error('the Optuna process exited');
    return JSON.parse(next.value) as T;
  }

    /** Optuna's version, and whether it has the unnormalised log density that "tpe-fixed" corrects. */
  info(): Promise<{ version: string; scaleMissing: boolean }> {
    return this.call({ op: 'info' });
  }

  /** Runs one study of `trials` trials; returns the best value. */
  async optimise(o: { space: SearchSpace; sampler: OptunaSampler; seed: number; trials: number; objective: (p: Params) => number | Promise<number> }): Promise<number> {
    await this.call({ op: 'new', space: o.space, sampler: o.sampler, seed: o.seed, direction: 'minimize' });
    let best = Infinity;
    for (let i = 0; i < o.trials; i++) {
      const { params } = await this.call<{ params: Params }>({ op: 'ask' });
      const value = await o.objective(params);
      best = Math.min(best, value);
      await this.call({ op: 'tell', value });
    }
    return best;
  }

  close(): void {
    this.child.stdin.end();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
