import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { SqlTokenStore, TokenService, requireRole, roleAtLeast, type Actor } from '../../src/identity/index.js';
import { describeTokenStoreContract } from '../contract/token-store.contract.js';
import { METADATA_BACKENDS } from '../support/backends.js';

for (const backend of METADATA_BACKENDS) {
  describeTokenStoreContract(backend.name, async () => {
    const t = await backend.open();
    return { store: new SqlTokenStore(t.database.db), cleanup: t.cleanup };
  });
}

const admin: Actor = { user: 'root', role: 'admin', tokenId: null };

describe('TokenService', () => {
  it('issues a secret that authenticates as its user and role, stored only hashed', async () => {
    const t = await METADATA_BACKENDS[0]!.open();
    try {
      const service = new TokenService(new SqlTokenStore(t.database.db), new ManualClock());
      const { token, secret } = await service.create({ user: 'ada', role: 'approver' }, admin);
      expect(secret).toMatch(/^cairn_[\w-]{32}$/);
      expect(await service.authenticate(secret)).toEqual({ user: 'ada', role: 'approver', tokenId: token.id });
      const stored = await t.database.db.selectFrom('api_tokens').selectAll().executeTakeFirstOrThrow();
      expect(stored.token_hash).not.toContain(secret.slice(6));
      await service.revoke(token.id, admin);
      await expect(service.authenticate(secret)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('revoked') });
      await expect(service.authenticate('cairn_wrong')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    } finally {
      await t.cleanup();
    }
  });

  it('validates input and needs the admin role', async () => {
    const t = await METADATA_BACKENDS[0]!.open();
    try {
      const service = new TokenService(new SqlTokenStore(t.database.db));
      await expect(service.create({ user: '', role: 'boss' }, admin)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { errors: [expect.objectContaining({ path: 'user' }), expect.objectContaining({ path: 'role' })] },
      });
      await expect(service.create({ user: 'x', role: 'viewer' }, { user: 'ed', role: 'editor', tokenId: null })).rejects.toMatchObject({
        code: 'FORBIDDEN',
        message: expect.stringContaining('admin role'),
      });
      await expect(service.revoke('tok_missing', admin)).rejects.toMatchObject({ code: 'TOKEN_NOT_FOUND' });
    } finally {
      await t.cleanup();
    }
  });

  it('orders roles viewer < editor < approver < admin', () => {
    expect(roleAtLeast('approver', 'editor')).toBe(true);
    expect(roleAtLeast('editor', 'approver')).toBe(false);
    expect(() => requireRole({ user: 'v', role: 'viewer', tokenId: null }, 'editor', 'creating a feature')).toThrow(
      'creating a feature needs the editor role; v has viewer',
    );
  });
});
