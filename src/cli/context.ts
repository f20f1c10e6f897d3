/** What every command reads from the global options: where the server is, who we are, how to print. */
import type { Command } from 'commander';
import { CairnClient } from '../sdk/index.js';

export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** The global options as seen from any (sub)command. */
export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** True when the result should be printed as raw JSON. */
export function wantsJson(cmd: Command): boolean {
  return Boolean(globalOptions(cmd).json);
}

/** An SDK client for `--url`/`--token`, falling back to $CAIRN_URL/$CAIRN_TOKEN and the default. */
export function clientFor(cmd: Command): CairnClient {
  const { url, token } = globalOptions(cmd);
  return new CairnClient({ url, token });
}
