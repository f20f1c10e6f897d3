/**
 * A small seeded pseudo-random generator (mulberry32): uniform numbers in [0, 1). Cairn never uses
 * Math.random where a result must be reproducible (splits, samplers, test data, benchmarks).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
