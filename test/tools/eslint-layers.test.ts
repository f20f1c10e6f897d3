import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

async function lint(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result!.messages.filter((m) => m.ruleId === 'cairn/layers').map((m) => m.message);
}

describe('the layers lint rule', () => {
  it('refuses core importing storage', async () => {
    const errors = await lint('src/core/x.ts', "import { openDatabase } from '../storage/db.js';\nexport const x = openDatabase;\n");
    expect(errors).toEqual([expect.stringContaining('core may not import from storage')]);
  });

  it('refuses a domain importing a later domain', async () => {
    const errors = await lint('src/features/x.ts', "export { x } from '../server/app.js';\n");
    expect(errors).toEqual([expect.stringContaining('features may not import from server')]);
  });

  it('refuses reaching into another domain past its index', async () => {
    const errors = await lint('src/server/x.ts', "import { SqlFeatureStore } from '../features/sql-store.js';\nexport const x = SqlFeatureStore;\n");
    expect(errors).toEqual([expect.stringContaining('only through its index.ts')]);
  });

  it('accepts imports in the loop direction', async () => {
    const code =
      "import { CairnError } from '../core/errors.js';\nimport { openDatabase } from '../storage/db.js';\nimport { ROLES } from '../identity/index.js';\nexport const x = [CairnError, openDatabase, ROLES];\n";
    expect(await lint('src/features/x.ts', code)).toEqual([]);
  });
});
