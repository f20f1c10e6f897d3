/**
 * The run search language: a hand-written tokenizer and recursive-descent parser that turn a
 * filter such as
 *
 *     metrics.auc > 0.6 AND (params.trainer = 'gbdt' OR tags.team IN ('ops','ml'))
 *
 * into an AST that `search-query.ts` compiles to SQL with bound parameters. Nothing of the text
 * ever reaches SQL as text. Errors name the 1-based column and the reason, e.g.
 * `position 17: expected a value after '>'`.
 *
 * Grammar (keywords are case-insensitive):
 *
 *     filter     := or END
 *     or         := and ( OR and )*
 *     and        := primary ( AND primary )*
 *     primary    := '(' or ')' | condition
 *     condition  := ident op value
 *                 | ident [NOT] IN '(' value ( ',' value )* ')'
 *                 | ident [NOT] ( LIKE | ILIKE ) string
 *                 | ident IS [NOT] NULL
 *     ident      := ( metrics | params | tags | attributes ) '.' ( key | '`' any '`' )
 *     op         := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
 *     value      := string ('…' or "…", a doubled quote inside is one quote) | number
 *     orderBy    := ident [ ASC | DESC ] ( ',' ident [ ASC | DESC ] )*
 */
import { CairnError } from '../core/errors.js';
import { RUN_STATUSES } from './model.js';

export type IdentifierKind = 'metric' | 'param' | 'tag' | 'attribute';

/** Run attributes a filter or sort may name. */
export const ATTRIBUTES = ['status', 'name', 'experiment', 'author', 'start_time', 'end_time', 'run_id', 'parent_run_id'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];
const TIME_ATTRIBUTES = new Set<string>(['start_time', 'end_time']);
const ATTRIBUTE_ALIASES: Record<string, Attribute> = { run_name: 'name', id: 'run_id' };

export interface Identifier {
  kind: IdentifierKind;
  /** The metric, param or tag key, or the attribute name (aliases resolved). */
  key: string;
  /** 1-based column where the identifier starts. */
  position: number;
  /** As written, for messages. */
  text: string;
}

export type Literal = { type: 'string'; value: string; position: number } | { type: 'number'; value: number; position: number };

export type ComparisonOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

export type Condition =
  | { type: 'compare'; ident: Identifier; op: ComparisonOp; value: Literal }
  | { type: 'in'; ident: Identifier; negated: boolean; values: Literal[] }
  | { type: 'like'; ident: Identifier; negated: boolean; caseInsensitive: boolean; pattern: string }
  | { type: 'null'; ident: Identifier; negated: boolean };

export type FilterExpr = Condition | { type: 'and'; operands: FilterExpr[] } | { type: 'or'; operands: FilterExpr[] };

export interface OrderKey {
  ident: Identifier;
  descending: boolean;
}

export const MAX_FILTER_LENGTH = 10_000;
export const MAX_ORDER_KEYS = 5;
const MAX_DEPTH = 64;

const PREFIXES: Record<string, IdentifierKind> = {
  metrics: 'metric',
  metric: 'metric',
  params: 'param',
  param: 'param',
  tags: 'tag',
  tag: 'tag',
  attributes: 'attribute',
  attribute: 'attribute',
  attr: 'attribute',
};
const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'LIKE', 'ILIKE', 'IS', 'NULL', 'ASC', 'DESC']);
const OPERATORS: Record<string, ComparisonOp> = { '=': '=', '==': '=', '!=': '!=', '<>': '!=', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };

type Token =
  | { t: 'ident'; pos: number; ident: Identifier }
  | { t: 'string'; pos: number; value: string }
  | { t: 'number'; pos: number; value: number; text: string }
  | { t: 'op'; pos: number; op: ComparisonOp; text: string }
  | { t: 'word'; pos: number; word: string }
  | { t: '(' | ')' | ','; pos: number }
  | { t: 'end'; pos: number };

/** Throws the VALIDATION_FAILED error of a bad filter or sort, naming the column. */
function fail(field: string, position: number, reason: string): never {
  const text = `position ${position}: ${reason}`;
  throw CairnError.validation([{ path: field, reason: text }], `invalid ${field}: ${text}`);
}

const NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/y;
const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;
const BARE_KEY = /[A-Za-z0-9_.\-/]+/y;
const IDENT_CHAR = /[A-Za-z0-9_]/;

function matchAt(re: RegExp, text: string, at: number): string | null {
  re.lastIndex = at;
  return re.exec(text)?.[0] ?? null;
}

/** Splits the text into tokens; positions are 1-based columns. */
function tokenize(text: string, field: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const pos = i + 1;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ t: ch, pos });
      i++;
    } else if (ch === "'" || ch === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) fail(field, pos, `unterminated string: add the closing ${ch}`);
        if (text[j] === ch) {
          if (text[j + 1] === ch) {
            value += ch; // a doubled quote stands for one quote
            j += 2;
            continue;
          }
          break;
        }
        value += text[j];
        j++;
      }
      tokens.push({ t: 'string', pos, value });
      i = j + 1;
    } else if (/[<>=!]/.test(ch)) {
      const two = text.slice(i, i + 2);
      const op = OPERATORS[two] ? two : OPERATORS[ch] ? ch : null;
      if (!op) fail(field, pos, `unknown operator ${JSON.stringify(two.trim() || ch)}: use =, !=, <, <=, > or >=`);
      tokens.push({ t: 'op', pos, op: OPERATORS[op]!, text: op });
      i += op.length;
    } else if (/[-+.\d]/.test(ch)) {
      const num = matchAt(NUMBER, text, i);
      if (!num) fail(field, pos, `unexpected ${JSON.stringify(ch)}`);
      const after = text[i + num.length];
      if (after !== undefined && (IDENT_CHAR.test(after) || after === '.')) {
        fail(field, pos, `${JSON.stringify(text.slice(i).split(/[\s,()]/)[0])} is not a number`);
      }
      tokens.push({ t: 'number', pos, value: Number(num), text: num });
      i += num.length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const word = matchAt(WORD, text, i)!;
      i += word.length;
      if (text[i] === '.') {
        const kind = PREFIXES[word.toLowerCase()];
        if (!kind) fail(field, pos, `unknown prefix ${JSON.stringify(word)}: name a key like metrics.auc, params.lr, tags.team or attributes.status`);
        i++;
        let key: string;
        if (text[i] === '`') {
          const close = text.indexOf('`', i + 1);
          if (close < 0) fail(field, i + 1, 'unterminated `key`: add the closing backtick');
          key = text.slice(i + 1, close);
          i = close + 1;
        } else {
          key = matchAt(BARE_KEY, text, i) ?? '';
          i += key.length;
        }
        if (!key) fail(field, i + 1, `expected a key after '${word}.'; quote odd keys with backticks, like ${word}.\`val-auc\``);
        tokens.push({ t: 'ident', pos, ident: { kind, key, position: pos, text: text.slice(pos - 1, i) } });
      } else if (KEYWORDS.has(word.toUpperCase())) {
        tokens.push({ t: 'word', pos, word: word.toUpperCase() });
      } else if (PREFIXES[word.toLowerCase()]) {
        fail(field, pos, `expected '.' and a key after ${JSON.stringify(word)}, like ${word}.auc`);
      } else {
        fail(field, pos, `unknown word ${JSON.stringify(word)}: name a key like metrics.auc, params.lr, tags.team or attributes.status, and quote text values`);
      }
    } else if (ch === '`') {
      fail(field, pos, 'a backtick-quoted key needs a prefix, like metrics.`val-auc`');
    } else {
      fail(field, pos, `unexpected ${JSON.stringify(ch)}`);
    }
  }
  tokens.push({ t: 'end', pos: text.length + 1 });
  return tokens;
}

/** A token as a person would refer to it in a message. */
function describe(tok: Token): string {
  switch (tok.t) {
    case 'end':
      return 'the end';
    case 'ident':
      return tok.ident.text;
    case 'string':
      return `'${tok.value}'`;
    case 'number':
      return tok.text;
    case 'op':
      return `'${tok.text}'`;
    case 'word':
      return tok.word;
    default:
      return `'${tok.t}'`;
  }
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly field: string,
  ) {}

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  private next(): Token {
    const tok = this.tokens[this.i]!;
    if (tok.t !== 'end') this.i++;
    return tok;
  }

  private isWord(word: string): boolean {
    const tok = this.peek();
    return tok.t === 'word' && tok.word === word;
  }

  private fail(tok: Token, reason: string): never {
    return fail(this.field, tok.pos, reason);
  }

  /** `expected X after Y`, plus what came instead unless the text simply ended. */
  private expected(tok: Token, what: string): never {
    return this.fail(tok, tok.t === 'end' ? what : `${what}, got ${describe(tok)}`);
  }

  filter(): FilterExpr {
    const expr = this.or();
    const tok = this.peek();
    if (tok.t !== 'end') {
      this.fail(tok, tok.t === ')' ? "unmatched ')'" : `expected AND, OR or the end of the filter, got ${describe(tok)}`);
    }
    return expr;
  }

  orderBy(): OrderKey[] {
    const keys: OrderKey[] = [];
    for (;;) {
      const tok = this.next();
      if (tok.t !== 'ident') this.expected(tok, keys.length === 0 ? 'expected a key to sort by, like metrics.auc' : "expected a key to sort by after ','");
      if (keys.length === MAX_ORDER_KEYS) this.fail(tok, `sort by at most ${MAX_ORDER_KEYS} keys`);
      const dir = this.peek();
      const descending = dir.t === 'word' && dir.word === 'DESC';
      if (dir.t === 'word' && (dir.word === 'ASC' || dir.word === 'DESC')) this.next();
      keys.push({ ident: checkIdentifier(tok.ident, this.field), descending });
      const sep = this.next();
      if (sep.t === 'end') break;
      if (sep.t !== ',') this.fail(sep, `expected ASC, DESC, ',' or the end, got ${describe(sep)}`);
    }
    return keys;
  }

  private or(): FilterExpr {
    const operands = [this.and()];
    while (this.isWord('OR')) {
      this.next();
      operands.push(this.and());
    }
    return operands.length === 1 ? operands[0]! : { type: 'or' as const, operands };
  }

  private and(): FilterExpr {
    const operands = [this.primary()];
    while (this.isWord('AND')) {
      this.next();
      operands.push(this.primary());
    }
    return operands.length === 1 ? operands[0]! : { type: 'and', operands };
  }

  private primary(): FilterExpr {
    const tok = this.next();
    if (tok.t === '(') {
      if (++this.depth > MAX_DEPTH) this.fail(tok, `parentheses nest deeper than ${MAX_DEPTH}`);
      const inner = this.or();
      const close = this.next();
      if (close.t !== ')') this.expected(close, `expected ')' to close the '(' at position ${tok.pos}`);
      this.depth--;
      return inner;
    }
    if (tok.t === 'ident') return checkCondition(this.condition(checkIdentifier(tok.ident, this.field)), this.field);
    return this.expected(tok, 'expected a condition like metrics.auc > 0.5 or an opening (');
  }

  private condition(ident: Identifier): Condition {
    const tok = this.next();
    if (tok.t === 'op') return { type: 'compare', ident, op: tok.op, value: this.value(`'${tok.text}'`) };
    if (tok.t === 'word') {
      let negated = false;
      let word = tok.word;
      if (word === 'NOT') {
        const after = this.next();
        if (after.t !== 'word' || !['IN', 'LIKE', 'ILIKE'].includes(after.word)) this.expected(after, 'expected IN, LIKE or ILIKE after NOT');
        negated = true;
        word = after.word;
      }
      if (word === 'IN') return { type: 'in', ident, negated, values: this.list() };
      if (word === 'LIKE' || word === 'ILIKE') {
        const pattern = this.next();
        if (pattern.t !== 'string') this.expected(pattern, `expected a quoted pattern after ${word}`);
        return { type: 'like', ident, negated, caseInsensitive: word === 'ILIKE', pattern: pattern.value };
      }
      if (word === 'IS') {
        const not = this.isWord('NOT');
        if (not) this.next();
        const nul = this.next();
        if (nul.t !== 'word' || nul.word !== 'NULL') this.expected(nul, `expected NULL after IS${not ? ' NOT' : ''}`);
        return { type: 'null', ident, negated: not };
      }
    }
    return this.expected(tok, `expected an operator after ${ident.text} (=, !=, <, <=, >, >=, IN, NOT IN, LIKE, ILIKE or IS NULL)`);
  }

  private value(after: string): Literal {
    const tok = this.next();
    if (tok.t === 'string') return { type: 'string', value: tok.value, position: tok.pos };
    if (tok.t === 'number') return { type: 'number', value: tok.value, position: tok.pos };
    return this.expected(tok, `expected a value after ${after}`);
  }

  private list(): Literal[] {
    const open = this.next();
    if (open.t !== '(') this.expected(open, "expected '(' after IN");
    const values = [this.value("'('")];
    for (;;) {
      const tok = this.next();
      if (tok.t === ')') return values;
      if (tok.t !== ',') this.expected(tok, `expected ',' or ')' to close the '(' at position ${open.pos}`);
      values.push(this.value("','"));
    }
  }
}

/** Resolves attribute aliases and refuses unknown attributes. */
function checkIdentifier(ident: Identifier, field: string): Identifier {
  if (ident.kind !== 'attribute') return ident;
  const key = ATTRIBUTE_ALIASES[ident.key] ?? ident.key;
  if (!(ATTRIBUTES as readonly string[]).includes(key)) {
    fail(field, ident.position, `unknown attribute ${JSON.stringify(ident.key)}: use one of ${ATTRIBUTES.join(', ')}`);
  }
  return { ...ident, key };
}

/**
 * The type rules of a condition: metrics are numbers; attributes are text (times accept an ISO
 * time or epoch milliseconds and are normalized to ISO so that text order is time order); params
 * and tags are text that compare numerically with an unquoted number.
 */
function checkCondition(c: Condition, field: string): Condition {
  const { ident } = c;
  const literals = c.type === 'compare' ? [c.value] : c.type === 'in' ? c.values : [];
  if (ident.kind === 'metric') {
    if (c.type === 'like') fail(field, ident.position, `${ident.text} is a number: LIKE and ILIKE apply to text`);
    const text = literals.find((l) => l.type === 'string');
    if (text) fail(field, text.position, `${ident.text} is a number: compare it with a number, not '${text.value}'`);
  } else if (ident.kind === 'attribute') {
    const normalized = literals.map((l) => normalizeAttributeLiteral(ident, l, field));
    if (c.type === 'compare') return { ...c, value: normalized[0]! };
    if (c.type === 'in') return { ...c, values: normalized };
  } else if (c.type === 'in' && new Set(c.values.map((l) => l.type)).size > 1) {
    fail(field, c.values[0]!.position, 'an IN list holds either numbers or quoted text, not both');
  }
  if (c.type === 'like' && /(?:^|[^\\])(?:\\\\)*\\$/.test(c.pattern)) {
    fail(field, ident.position, `the pattern of ${ident.text} ends with a lone \\: escape it as \\\\`);
  }
  return c;
}

function normalizeAttributeLiteral(ident: Identifier, literal: Literal, field: string): Literal {
  if (TIME_ATTRIBUTES.has(ident.key)) {
    const ms = literal.type === 'number' ? literal.value : /^\d{4}-\d{2}-\d{2}/.test(literal.value) ? Date.parse(literal.value) : NaN;
    if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
      fail(field, literal.position, `${ident.text} is a time: give an ISO time like '2026-01-31T12:00:00Z' or epoch milliseconds`);
    }
    return { type: 'string', value: new Date(ms).toISOString(), position: literal.position };
  }
  if (literal.type === 'number') fail(field, literal.position, `${ident.text} is text: quote the value, like '${literal.value}'`);
  if (ident.key === 'status' && !(RUN_STATUSES as readonly string[]).includes(literal.value)) {
    fail(field, literal.position, `unknown status '${literal.value}': use one of ${RUN_STATUSES.join(', ')}`);
  }
  return literal;
}

/**
 * Parses a run filter into an AST; an empty or blank filter is null (everything matches).
 * @param field the input field to name in errors (`filter`).
 * @throws VALIDATION_FAILED naming `field` with the 1-based position and the reason.
 */
export function parseFilter(text: string, field = 'filter'): FilterExpr | null {
  if (text.length > MAX_FILTER_LENGTH) fail(field, MAX_FILTER_LENGTH + 1, `a filter is at most ${MAX_FILTER_LENGTH} characters`);
  if (text.trim() === '') return null;
  return new Parser(tokenize(text, field), field).filter();
}

/**
 * Parses sort keys: `metrics.auc DESC, attributes.start_time` (ASC is the default). A list of
 * strings is read as one comma-separated text. An empty text is no keys.
 * @throws VALIDATION_FAILED naming `field` with the 1-based position and the reason.
 */
export function parseOrderBy(text: string | string[], field = 'orderBy'): OrderKey[] {
  const joined = Array.isArray(text) ? text.join(', ') : text;
  if (joined.length > MAX_FILTER_LENGTH) fail(field, MAX_FILTER_LENGTH + 1, `at most ${MAX_FILTER_LENGTH} characters`);
  if (joined.trim() === '') return [];
  return new Parser(tokenize(joined, field), field).orderBy();
}

/** The canonical text of sort keys, e.g. `metrics.auc DESC, attributes.name ASC`; used in cursors. */
export function formatOrderBy(keys: OrderKey[]): string {
  const prefix: Record<IdentifierKind, string> = { metric: 'metrics', param: 'params', tag: 'tags', attribute: 'attributes' };
  return keys.map((k) => `${prefix[k.ident.kind]}.\`${k.ident.key}\` ${k.descending ? 'DESC' : 'ASC'}`).join(', ');
}
