import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiToken, TokenStore } from '../../src/identity/index.js';

export function describeTokenStoreContract(name: string, open: () => Promise<{ store: TokenStore; cleanup(): Promise<void> }>): void {
  describe(`TokenStore contract on ${name}`, () => {
    let store: TokenStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => ({ store, cleanup } = await open()));
    afterAll(async () => cleanup?.());

    const token = (id: string, createdAt: string): ApiToken => ({
      id,
      name: `${id}-name`,
      user: 'ada',
      role: 'editor',
      createdAt,
      createdBy: 'root',
      revokedAt: null,
      lastUsedAt: null,
    });

    it('finds a token by the hash of its secret only', async () => {
      await store.insert(token('tok_1', '2026-01-01T00:00:00.000Z'), 'hash-1');
      expect(await store.findByHash('hash-1')).toEqual(token('tok_1', '2026-01-01T00:00:00.000Z'));
      expect(await store.findByHash('hash-2')).toBeNull();
      expect(await store.get('tok_1')).toMatchObject({ user: 'ada', role: 'editor' });
    });

    it('revokes once and records use', async () => {
      await store.insert(token('tok_2', '2026-01-02T00:00:00.000Z'), 'hash-2');
      expect(await store.revoke('tok_2', '2026-01-03T00:00:00.000Z')).toBe(true);
      expect(await store.revoke('tok_2', '2026-01-04T00:00:00.000Z')).toBe(false);
      expect((await store.get('tok_2'))?.revokedAt).toBe('2026-01-03T00:00:00.000Z');
      await store.touch('tok_1', '2026-01-05T00:00:00.000Z');
      expect((await store.get('tok_1'))?.lastUsedAt).toBe('2026-01-05T00:00:00.000Z');
      expect((await store.list()).map((t) => t.id)).toEqual(['tok_1', 'tok_2']);
    });
  });
}
