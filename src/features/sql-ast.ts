/**
 * Reading DuckDB's parsed-SQL JSON (json_serialize_sql): how the offline engine checks that a
 * feature expression is one plain expression and rewrites its aggregates into window functions.
 */
import { randomUUID } from 'node:crypto';

/** A node of DuckDB's parsed-expression JSON (json_serialize_sql). */
export interface AstNode {
  class?: string;
  function_name?: string;
  is_operator?: boolean;
  [key: string]: unknown;
}

export function visitNodes(value: unknown, visit: (node: AstNode) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) visitNodes(item, visit);
  } else if (value !== null && typeof value === 'object') {
    const node = value as AstNode;
    if (typeof node.class === 'string') visit(node);
    for (const child of Object.values(node)) visitNodes(child, visit);
  }
}

/** A copy of the tree where `replace` may substitute nodes (its result is not descended into). */
export function mapNodes(value: unknown, replace: (node: AstNode) => AstNode | undefined): unknown {
  if (Array.isArray(value)) return value.map((item) => mapNodes(item, replace));
  if (value === null || typeof value !== 'object') return value;
  const node = value as AstNode;
  const replaced = typeof node.class === 'string' ? replace(node) : undefined;
  if (replaced) return replaced;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, mapNodes(v, replace)]));
}

// DuckDB's JSON holds 64-bit integers (query_location is often 2^64 - 1; BIGINT constants can be
// anything), which JSON.parse would round. Big number tokens travel as marked strings instead.
const BIG_MARK = `__cairn_bigint_${randomUUID().slice(0, 8)}:`;

/** JSON.parse that keeps integers beyond 2^53 exact (as marked strings, see `stringifyLossless`). */
export function parseLossless(text: string): unknown {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"') {
      // Copy a string token verbatim, honouring escapes.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      const token = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 64))![0];
      const exactInteger = /^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token));
      out += exactInteger ? `"${BIG_MARK}${token}"` : token;
      i += token.length;
    } else {
      out += ch;
      i += 1;
    }
  }
  return JSON.parse(out);
}

export function stringifyLossless(value: unknown): string {
  return JSON.stringify(value).replace(new RegExp(`"${BIG_MARK}(-?\\d+)"`, 'g'), '$1');
}

export interface SerializedSelect {
  error?: boolean;
  error_message?: string;
  statements?: { node: AstNode & { type?: string; select_list?: AstNode[] } }[];
}

/** True for `SELECT <one expression>` with nothing else: no FROM, WHERE, GROUP BY, CTE, … */
export function isBareSelectOfOne(node: AstNode & { type?: string; select_list?: AstNode[] }): boolean {
  const from = node.from_table as { type?: string } | undefined;
  const emptyList = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0);
  const cte = node.cte_map as { map?: unknown[] } | undefined;
  return (
    node.type === 'SELECT_NODE' &&
    node.select_list?.length === 1 &&
    from?.type === 'EMPTY' &&
    node.where_clause === null &&
    node.having === null &&
    node.qualify === null &&
    node.sample === null &&
    node.aggregate_handling === 'STANDARD_HANDLING' &&
    emptyList(node.group_expressions) &&
    emptyList(node.group_sets) &&
    emptyList(node.modifiers) &&
    emptyList(cte?.map)
  );
}

