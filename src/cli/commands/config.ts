import type { Command } from 'commander';
import { CONFIG_VARIABLES, loadConfig, redactUrl, type CairnConfig } from '../../core/config.js';
import { wantsJson } from '../context.js';
import { formatKeyValues, formatTable, printResult } from '../output.js';

/** The configuration with the passwords of its URLs hidden. */
function redacted(config: CairnConfig): CairnConfig {
  const database = config.database.kind === 'postgres' ? { kind: 'postgres' as const, url: redactUrl(config.database.url) } : config.database;
  return { ...config, database, redisUrl: (config.redisUrl && redactUrl(config.redisUrl)) };
}

function effective(config: CairnConfig): [string, unknown][] {
  const db = config.database.kind === 'sqlite' ? `sqlite:${config.database.path}` : redactUrl(config.database.url);
  return [
    ['home', config.home],
    ['database', db],
    ['redis', (config.redisUrl && redactUrl(config.redisUrl)) ?? 'none (online store in SQLite)'],
    ['listen', `${config.host}:${config.port}`],
    ['auth', config.auth.enabled ? 'on' : `off (everything acts as ${config.auth.localUser}, admin)`],
    ['local user', config.auth.localUser],
    ['allow insecure bind', config.auth.allowInsecureBind],
    ['body limit', `${config.bodyLimitBytes} bytes`],
    ['log level', config.logLevel],
  ];
}

/** `cairn config`: the effective configuration and every variable that shapes it. */
export function registerConfig(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration and the CAIRN_* variables it is read from')
    .action((_o: unknown, cmd: Command) => {
      // Throws INVALID_CONFIG naming every bad variable, which exits 78.
      const config = loadConfig();
      const variables = Object.entries(CONFIG_VARIABLES).map(([name, meaning]) => {
        const raw = process.env[name];
        // Connection URLs may carry passwords.
        const value = raw === undefined ? null : name.endsWith('_URL') ? redactUrl(raw) : raw;
        return { name, value, meaning };
      });
      printResult(wantsJson(cmd), { config: redacted(config), variables }, () =>
        [
          formatKeyValues(effective(config)),
          '',
          formatTable(variables, [
            { header: 'variable', value: (v) => v.name },
            { header: 'value', value: (v) => v.value ?? '(unset)' },
            { header: 'meaning', value: (v) => v.meaning },
          ]),
        ].join('\n'),
      );
    });
}
