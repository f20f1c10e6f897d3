// The dependency direction of DESIGN.md as a lint rule: core ◄ storage ◄ domains ◄ server/cli.
// A domain imports another domain only through its index.ts, and only in the loop's direction.
import path from 'node:path';

/** For each top-level folder of src/, the folders it may import from. */
export const ALLOWED = {
  core: [],
  storage: ['core'],
  identity: ['core', 'storage'],
  features: ['core', 'storage', 'identity'],
  tracking: ['core', 'storage', 'identity', 'features'],
  ml: ['core', 'storage', 'features'],
  training: ['core', 'storage', 'identity', 'features', 'tracking', 'ml'],
  registry: ['core', 'storage', 'identity', 'features', 'tracking', 'ml'],
  tuning: ['core', 'storage', 'identity', 'features', 'tracking', 'ml', 'training'],
  serving: ['core', 'storage', 'identity', 'features', 'tracking', 'ml', 'registry'],
  abtest: ['core', 'storage', 'identity', 'features', 'tracking', 'ml', 'registry', 'serving'],
  monitoring: ['core', 'storage', 'identity', 'features', 'tracking', 'ml', 'registry', 'serving'],
  batch: ['core', 'storage', 'identity', 'features', 'tracking', 'ml', 'registry', 'serving'],
  jobs: ['core', 'storage', 'identity'],
  retraining: ['core', 'storage', 'identity', 'features', 'tracking', 'ml', 'training', 'registry', 'serving', 'monitoring', 'jobs', 'tuning'],
  sdk: ['core', 'identity', 'features', 'tracking', 'ml', 'training', 'registry', 'serving', 'tuning', 'abtest', 'monitoring', 'batch', 'jobs', 'retraining'],
  server: '*',
  cli: '*',
};

/** Folders that are infrastructure, not domains: importing any file of them is fine. */
const OPEN = new Set(['core', 'storage']);

function layerOf(file, srcRoot) {
  const rel = path.relative(srcRoot, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  const [top, ...rest] = rel.split(path.sep);
  return { top, rest: rest.join('/') };
}

export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'enforce the dependency direction between src/ folders' },
    schema: [],
    messages: {
      direction: '{{from}} may not import from {{to}} (allowed: {{allowed}}); see DESIGN.md',
      unknown: 'src/{{from}} is not a known layer: add it to tools/eslint-layers.js',
      index: 'import another domain only through its index.ts: use ../{{to}}/index.js',
    },
  },
  create(context) {
    const file = context.filename;
    const srcRoot = path.join(context.cwd, 'src');
    const from = layerOf(file, srcRoot);
    if (!from || !from.rest) return {};
    const check = (node) => {
      const spec = node.source?.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = layerOf(path.resolve(path.dirname(file), spec), srcRoot);
      if (!target || target.top === from.top) return;
      const allowed = ALLOWED[from.top];
      if (allowed === undefined) {
        context.report({ node, messageId: 'unknown', data: { from: from.top } });
        return;
      }
      if (allowed !== '*' && !allowed.includes(target.top)) {
        context.report({ node, messageId: 'direction', data: { from: from.top, to: target.top, allowed: allowed.join(', ') || 'nothing' } });
        return;
      }
      if (!OPEN.has(target.top) && target.rest !== 'index.js' && target.rest !== 'index.ts') {
        context.report({ node, messageId: 'index', data: { to: target.top } });
      }
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};
