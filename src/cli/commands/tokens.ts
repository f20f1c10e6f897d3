import type { Command } from 'commander';
import { loadConfig } from '../../core/config.js';
import type { Actor, ApiToken, TokenService } from '../../identity/index.js';
import { wantsJson } from '../context.js';
import { formatKeyValues, formatTable, note, printResult } from '../output.js';

/**
 * Runs `fn` with a TokenService on the configured metadata store, acting as the local user with
 * the admin role. Going to the store directly (not the API) is what lets an operator create the
 * first token of a server that requires one; whoever can read CAIRN_HOME is trusted already.
 */
async function withTokens<T>(fn: (tokens: TokenService, actor: Actor) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Loaded on use: the database drivers are the slowest part of start-up and most commands do not need them.
  const [{ openDatabase }, { SqlTokenStore, TokenService }] = await Promise.all([
    import('../../storage/db.js'),
    import('../../identity/index.js'),
  ]);
  const database = await openDatabase(config.database);
  try {
    return await fn(new TokenService(new SqlTokenStore(database.db)), { user: config.auth.localUser, role: 'admin', tokenId: null });
  } finally {
    await database.close();
  }
}

function describeToken(t: ApiToken): [string, unknown][] {
  return [
    ['id', t.id],
    ['name', t.name],
    ['user', t.user],
    ['role', t.role],
    ['created', `${t.createdAt} by ${t.createdBy}`],
    ['revoked', t.revokedAt],
  ];
}

/** `cairn tokens create|list|revoke`, on the metadata store of this machine's configuration. */
export function registerTokens(program: Command): void {
  const group = program
    .command('tokens')
    .description('API tokens, managed directly in the metadata store of CAIRN_HOME / CAIRN_DATABASE_URL');

  group
    .command('create')
    .description('create an API token; the secret is printed once')
    .requiredOption('-u, --user <user>', 'who the token acts as')
    .requiredOption('-r, --role <role>', 'viewer, editor, approver or admin')
    .option('-n, --name <name>', 'a label (default <user>-<role>)')
    .action(async (o: { user: string; role: string; name?: string }, cmd: Command) => {
      const { token, secret } = await withTokens((tokens, actor) => tokens.create(o, actor));
      printResult(wantsJson(cmd), { ...token, secret }, () => formatKeyValues([...describeToken(token), ['secret', secret]]));
      note('warning: store the secret now; it is not shown again. Use it as CAIRN_TOKEN or --token.');
    });

  group
    .command('list')
    .description('list API tokens')
    .action(async (_o: unknown, cmd: Command) => {
      const tokens = await withTokens((service) => service.list());
      printResult(wantsJson(cmd), { items: tokens }, () =>
        formatTable(tokens, [
          { header: 'id', value: (t) => t.id },
          { header: 'name', value: (t) => t.name },
          { header: 'user', value: (t) => t.user },
          { header: 'role', value: (t) => t.role },
          { header: 'created', value: (t) => t.createdAt },
          { header: 'last used', value: (t) => t.lastUsedAt },
          { header: 'revoked', value: (t) => t.revokedAt },
        ], '(no tokens)'),
      );
    });

  group
    .command('revoke <id>')
    .description('revoke an API token; requests with it fail from now on')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const token = await withTokens((tokens, actor) => tokens.revoke(id, actor));
      printResult(wantsJson(cmd), token, () => formatKeyValues(describeToken(token)));
    });
}
