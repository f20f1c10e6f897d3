/** Roles are ordered: each includes every permission of the ones before it. */
export const ROLES = ['viewer', 'editor', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is acting: every write records `user`. */
export interface Actor {
  user: string;
  role: Role;
  /** The token that authenticated the request; null for the embedded local user and the CLI. */
  tokenId: string | null;
}

export interface ApiToken {
  id: string;
  name: string;
  user: string;
  role: Role;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** True when `have` includes the permissions of `need`. */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}
