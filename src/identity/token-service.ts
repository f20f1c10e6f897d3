import { createHash, randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { CairnError, ValidationErrors } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { ROLES, isRole, roleAtLeast, type Actor, type ApiToken, type Role } from './model.js';
import type { TokenStore } from './token-store.js';

const TOKEN_PREFIX = 'cairn_';
// last_used_at is informative; writing it on every request would put a write on every read.
const TOUCH_INTERVAL_MS = 60_000;

function hashSecret(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Issues, verifies and revokes API tokens. A token is `cairn_<random>`; it is shown once at
 * creation and stored only as its sha256 (tokens are long random secrets, so a fast hash is safe).
 */
export class TokenService {
  private readonly lastTouched = new Map<string, number>();

  constructor(
    private readonly store: TokenStore,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Creates a token; returns its record and the secret, which is never retrievable again. */
  async create(input: { user: string; role: string; name?: string }, actor: Actor): Promise<{ token: ApiToken; secret: string }> {
    const v = new ValidationErrors();
    if (!input.user || !/^[\w.@-]{1,100}$/.test(input.user)) v.add('user', 'required: letters, digits, . @ _ - (at most 100)');
    if (!isRole(input.role)) v.add('role', `must be one of ${ROLES.join(', ')}`);
    v.throwIfAny();
    requireRole(actor, 'admin', 'create API tokens');
    const secret = TOKEN_PREFIX + randomBytes(24).toString('base64url');
    const token: ApiToken = {
      id: newId('tok'),
      name: input.name?.trim() || `${input.user}-${input.role}`,
      user: input.user,
      role: input.role as Role,
      createdAt: this.clock.now().toISOString(),
      createdBy: actor.user,
      revokedAt: null,
      lastUsedAt: null,
    };
    await this.store.insert(token, hashSecret(secret));
    return { token, secret };
  }

  /** Resolves a presented secret to its actor; UNAUTHENTICATED when unknown or revoked. */
  async authenticate(secret: string): Promise<Actor> {
    const token = secret.startsWith(TOKEN_PREFIX) ? await this.store.findByHash(hashSecret(secret)) : null;
    if (!token) throw new CairnError('UNAUTHENTICATED', 'invalid API token');
    if (token.revokedAt) throw new CairnError('UNAUTHENTICATED', `API token ${token.id} was revoked at ${token.revokedAt}`);
    const now = this.clock.now().getTime();
    if (now - (this.lastTouched.get(token.id) ?? 0) > TOUCH_INTERVAL_MS) {
      this.lastTouched.set(token.id, now);
      await this.store.touch(token.id, new Date(now).toISOString());
    }
    return { user: token.user, role: token.role, tokenId: token.id };
  }

  list(): Promise<ApiToken[]> {
    return this.store.list();
  }

  async revoke(id: string, actor: Actor): Promise<ApiToken> {
    requireRole(actor, 'admin', 'revoke API tokens');
    const token = await this.store.get(id);
    if (!token) throw new CairnError('TOKEN_NOT_FOUND', `API token ${id} not found`);
    if (!token.revokedAt) await this.store.revoke(id, this.clock.now().toISOString());
    return (await this.store.get(id))!;
  }
}

/** Throws FORBIDDEN naming the missing role when `actor` may not do `what`. */
export function requireRole(actor: Actor, need: Role, what: string): void {
  if (!roleAtLeast(actor.role, need)) {
    throw new CairnError('FORBIDDEN', `${what} needs the ${need} role; ${actor.user} has ${actor.role}`, {
      requiredRole: need,
      role: actor.role,
    });
  }
}
