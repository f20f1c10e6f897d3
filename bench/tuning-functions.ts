/**
 * The standard test functions of the tuning benchmark, with their search spaces and known minima
 * (Dixon & Szegő 1978; the constants as in the Virtual Library of Simulation Experiments).
 */
import type { Params, SearchSpace } from '../src/tuning/index.js';

export interface TestFunction {
  name: string;
  space: SearchSpace;
  /** The global minimum, for the "gap to optimum" column. */
  minimum: number;
  f(p: Params): number;
}

/** Branin–Hoo on x1 ∈ [−5, 10], x2 ∈ [0, 15]: three global minima of 0.397887. */
export const BRANIN: TestFunction = {
  name: 'Branin (2-d)',
  space: { x1: { type: 'float', low: -5, high: 10 }, x2: { type: 'float', low: 0, high: 15 } },
  minimum: 0.397887,
  f: (p) => {
    const x1 = p.x1 as number;
    const x2 = p.x2 as number;
    const b = 5.1 / (4 * Math.PI ** 2);
    const c = 5 / Math.PI;
    const t = 1 / (8 * Math.PI);
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * Math.cos(x1) + 10;
  },
};

const H6_ALPHA = [1.0, 1.2, 3.0, 3.2];
const H6_A = [
  [10, 3, 17, 3.5, 1.7, 8],
  [0.05, 10, 17, 0.1, 8, 14],
  [3, 3.5, 1.7, 10, 17, 8],
  [17, 8, 0.05, 10, 0.1, 14],
];
const H6_P = [
  [1312, 1696, 5569, 124, 8283, 5886],
  [2329, 4135, 8307, 3736, 1004, 9991],
  [2348, 1451, 3522, 2883, 3047, 6650],
  [4047, 8828, 8732, 5743, 1091, 381],
].map((row) => row.map((v) => v * 1e-4));
const H6_NAMES = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6'];

/** Hartmann-6 on [0, 1]^6: global minimum −3.32237. */
export const HARTMANN6: TestFunction = {
  name: 'Hartmann-6 (6-d)',
  space: Object.fromEntries(H6_NAMES.map((n) => [n, { type: 'float' as const, low: 0, high: 1 }])),
  minimum: -3.32237,
  f: (p) => {
    let sum = 0;
    for (let i = 0; i < 4; i++) {
      let inner = 0;
      for (let j = 0; j < 6; j++) inner += H6_A[i]![j]! * ((p[H6_NAMES[j]!] as number) - H6_P[i]![j]!) ** 2;
      sum += H6_ALPHA[i]! * Math.exp(-inner);
    }
    return -sum;
  },
};

/** The parallel-workers study's space: 61 × 61 = 3,721 integer points, far more than its 200 trials. */
export const PARALLEL_SPACE: SearchSpace = { x: { type: 'int', low: -30, high: 30 }, y: { type: 'int', low: -30, high: 30 } };

/** A bowl with ripples over PARALLEL_SPACE: cheap, so the workers mostly race for claims. */
export function cheapObjective(p: Params): number {
  const x = p.x as number;
  const y = p.y as number;
  return (x - 7) ** 2 + (y + 3) ** 2 + 10 * Math.sin(x / 3) * Math.cos(y / 4);
}
