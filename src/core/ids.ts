import { randomBytes } from 'node:crypto';

/** A random id with a readable prefix, e.g. `mat_3f9c1a…`; 96 bits of randomness. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
