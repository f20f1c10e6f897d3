import type { Kysely } from 'kysely';
import type { ApiTokenTable, Schema } from '../storage/schema.js';
import type { ApiToken, Role } from './model.js';

/** Persistence of API tokens; only the sha256 of a token's secret is ever stored. */
export interface TokenStore {
  insert(token: ApiToken, hash: string): Promise<void>;
  findByHash(hash: string): Promise<ApiToken | null>;
  get(id: string): Promise<ApiToken | null>;
  list(): Promise<ApiToken[]>;
  revoke(id: string, at: string): Promise<boolean>;
  touch(id: string, at: string): Promise<void>;
}

function toToken(r: ApiTokenTable): ApiToken {
  return {
    id: r.id,
    name: r.name,
    user: r.user_name,
    role: r.role as Role,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}

export class SqlTokenStore implements TokenStore {
  constructor(private readonly db: Kysely<Schema>) {}

  async insert(t: ApiToken, hash: string): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({
        id: t.id,
        name: t.name,
        user_name: t.user,
        role: t.role,
        token_hash: hash,
        created_at: t.createdAt,
        created_by: t.createdBy,
        revoked_at: null,
        last_used_at: null,
      })
      .execute();
  }

  async findByHash(hash: string): Promise<ApiToken | null> {
    const r = await this.db.selectFrom('api_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    return r ? toToken(r) : null;
  }

  async get(id: string): Promise<ApiToken | null> {
    const r = await this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toToken(r) : null;
  }

  async list(): Promise<ApiToken[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toToken);
  }

  async revoke(id: string, at: string): Promise<boolean> {
    const res = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async touch(id: string, at: string): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
