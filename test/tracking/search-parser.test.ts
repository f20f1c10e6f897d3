/** The run search language: tokenizer, parser, type rules and error positions. */
import { describe, expect, it } from 'vitest';
import { CairnError } from '../../src/core/errors.js';
import { MAX_FILTER_LENGTH, formatOrderBy, parseFilter, parseOrderBy, type Condition, type FilterExpr } from '../../src/tracking/search-parser.js';
import { likeToGlob } from '../../src/tracking/search-query.js';

/** The AST without positions, written compactly, so expectations stay readable. */
function show(e: FilterExpr | null): unknown {
  if (e === null) return null;
  if (e.type === 'and' || e.type === 'or') return { [e.type]: e.operands.map(show) };
  const id = `${e.ident.kind}:${e.ident.key}`;
  const lit = (l: { type: string; value: unknown }) => (l.type === 'number' ? l.value : `'${l.value}'`);
  switch (e.type) {
    case 'compare':
      return `${id} ${e.op} ${lit(e.value)}`;
    case 'in':
      return `${id} ${e.negated ? 'NOT IN' : 'IN'} (${e.values.map(lit).join(',')})`;
    case 'like':
      return `${id} ${e.negated ? 'NOT ' : ''}${e.caseInsensitive ? 'ILIKE' : 'LIKE'} '${e.pattern}'`;
    case 'null':
      return `${id} IS ${e.negated ? 'NOT ' : ''}NULL`;
  }
}

/** The reason of the VALIDATION_FAILED error a bad filter raises. */
function filterError(text: string, parse: (t: string) => unknown = parseFilter, field = 'filter'): string {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    const e = err as CairnError;
    expect(e.code).toBe('VALIDATION_FAILED');
    const errors = e.details.errors as { path: string; reason: string }[];
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe(field);
    expect(e.message).toBe(`invalid ${field}: ${errors[0]!.reason}`);
    return errors[0]!.reason;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe('parseFilter', () => {
  it('parses the issue example with AND binding tighter than OR', () => {
    const ast = parseFilter("metrics.auc > 0.6 AND (params.trainer = 'gbdt' OR tags.team IN ('ops','ml')) AND attributes.status = 'finished'");
    expect(show(ast)).toEqual({
      and: ['metric:auc > 0.6', { or: ["param:trainer = 'gbdt'", "tag:team IN ('ops','ml')"] }, "attribute:status = 'finished'"],
    });
    expect(show(parseFilter('metrics.a = 1 OR metrics.b = 2 AND metrics.c = 3'))).toEqual({
      or: ['metric:a = 1', { and: ['metric:b = 2', 'metric:c = 3'] }],
    });
  });

  it('reads every comparison operator, with == and <> as synonyms', () => {
    const ops = ['=', '!=', '<', '<=', '>', '>='].map((op) => show(parseFilter(`metrics.m ${op} 1`)));
    expect(ops).toEqual(['metric:m = 1', 'metric:m != 1', 'metric:m < 1', 'metric:m <= 1', 'metric:m > 1', 'metric:m >= 1']);
    expect(show(parseFilter('metrics.m == 1'))).toBe('metric:m = 1');
    expect(show(parseFilter('metrics.m <> 1'))).toBe('metric:m != 1');
    expect(show(parseFilter('metrics.m>=1'))).toBe('metric:m >= 1'); // no spaces needed
  });

  it('reads IN, NOT IN, LIKE, ILIKE, NOT LIKE and IS [NOT] NULL, keywords in any case', () => {
    expect(show(parseFilter("params.t in ('a', 'b') and params.u not in (1, 2.5)"))).toEqual({
      and: ["param:t IN ('a','b')", 'param:u NOT IN (1,2.5)'],
    });
    expect(show(parseFilter("tags.team LIKE 'o%' Or tags.team iLike 'ML_' OR tags.x NOT ILIKE '%a'"))).toEqual({
      or: ["tag:team LIKE 'o%'", "tag:team ILIKE 'ML_'", "tag:x NOT ILIKE '%a'"],
    });
    expect(show(parseFilter('metrics.auc IS NULL AND attributes.parent_run_id is not null'))).toEqual({
      and: ['metric:auc IS NULL', 'attribute:parent_run_id IS NOT NULL'],
    });
  });

  it('reads keys bare, with dots, slashes and dashes, or in backticks', () => {
    expect(show(parseFilter('metrics.train/loss < 1'))).toBe('metric:train/loss < 1');
    expect(show(parseFilter('metrics.val.auc < 1'))).toBe('metric:val.auc < 1');
    expect(show(parseFilter('metrics.val-auc < 1'))).toBe('metric:val-auc < 1');
    expect(show(parseFilter('metrics.`val auc (test)` < 1'))).toBe('metric:val auc (test) < 1');
    expect(show(parseFilter("params.`a=b` = 'c'"))).toBe("param:a=b = 'c'");
  });

  it('accepts singular prefixes and attribute aliases', () => {
    expect(show(parseFilter("metric.a = 1 AND param.b = 'x' AND tag.c = 'y' AND attr.status = 'running' AND attribute.run_name = 'r'"))).toEqual({
      and: ['metric:a = 1', "param:b = 'x'", "tag:c = 'y'", "attribute:status = 'running'", "attribute:name = 'r'"],
    });
    expect(show(parseFilter("attributes.id = 'run_1'"))).toBe("attribute:run_id = 'run_1'");
  });

  it('reads strings in either quote with doubled quotes, and numbers in every plain form', () => {
    expect(show(parseFilter("params.x = 'it''s'"))).toBe("param:x = 'it's'");
    expect(show(parseFilter('params.x = "say ""hi"""'))).toBe('param:x = \'say "hi"\'');
    expect(show(parseFilter("params.x = ''"))).toBe("param:x = ''");
    const numbers = ['-1', '+2', '0.5', '.5', '3.', '1e-3', '2.5E+2'].map((n) => (parseFilter(`metrics.m = ${n}`) as Condition & { type: 'compare' }).value.value);
    expect(numbers).toEqual([-1, 2, 0.5, 0.5, 3, 0.001, 250]);
  });

  it('normalizes times to ISO-8601 UTC so that text order is time order', () => {
    const value = (f: string) => (parseFilter(f) as Condition & { type: 'compare' }).value.value;
    expect(value("attributes.start_time >= '2026-01-31'")).toBe('2026-01-31T00:00:00.000Z');
    expect(value("attributes.end_time < '2026-01-31T12:00:00+02:00'")).toBe('2026-01-31T10:00:00.000Z');
    expect(value('attributes.start_time > 1767225600000')).toBe('2026-01-01T00:00:00.000Z');
  });

  it('keeps positions: 1-based columns of identifiers and literals', () => {
    const c = parseFilter("  params.trainer = 'gbdt'") as Condition & { type: 'compare' };
    expect(c.ident.position).toBe(3);
    expect(c.value.position).toBe(20);
  });

  it('treats an empty or blank filter as no filter', () => {
    expect(parseFilter('')).toBeNull();
    expect(parseFilter('   ')).toBeNull();
  });

  it('nests parentheses', () => {
    expect(show(parseFilter('((metrics.a > 1) AND ((metrics.b < 2)))'))).toEqual({ and: ['metric:a > 1', 'metric:b < 2'] });
  });

  it.each([
    ['metrics.auc >', "position 14: expected a value after '>'"],
    ["metrics.auc > 0.6 AND params.x = 'a' AND metrics.loss <", "position 56: expected a value after '<'"],
    ['metrics.auc > AND metrics.b > 1', "position 15: expected a value after '>', got AND"],
    ['metrics.auc > 0.6 AND', 'position 22: expected a condition like metrics.auc > 0.5 or an opening ('],
    ['OR metrics.a > 1', 'position 1: expected a condition like metrics.auc > 0.5 or an opening (, got OR'],
    ['(metrics.auc > 1', "position 17: expected ')' to close the '(' at position 1"],
    ['metrics.auc > 1)', "position 16: unmatched ')'"],
    ["metrics.auc > 1 params.x = 'a'", 'position 17: expected AND, OR or the end of the filter, got params.x'],
    ['metrics.auc 1', 'position 13: expected an operator after metrics.auc (=, !=, <, <=, >, >=, IN, NOT IN, LIKE, ILIKE or IS NULL), got 1'],
    ['auc > 1', 'position 1: unknown word "auc": name a key like metrics.auc, params.lr, tags.team or attributes.status, and quote text values'],
    ["params.trainer = gbdt", 'position 18: unknown word "gbdt": name a key like metrics.auc, params.lr, tags.team or attributes.status, and quote text values'],
    ['metrics > 1', 'position 1: expected \'.\' and a key after "metrics", like metrics.auc'],
    ['metrix.auc > 1', 'position 1: unknown prefix "metrix": name a key like metrics.auc, params.lr, tags.team or attributes.status'],
    ['metrics. > 1', "position 9: expected a key after 'metrics.'; quote odd keys with backticks, like metrics.`val-auc`"],
    ['metrics.`val-auc > 1', 'position 9: unterminated `key`: add the closing backtick'],
    ['`auc` > 1', 'position 1: a backtick-quoted key needs a prefix, like metrics.`val-auc`'],
    ["params.x = 'abc", "position 12: unterminated string: add the closing '"],
    ['metrics.auc ! 1', 'position 13: unknown operator "!": use =, !=, <, <=, > or >='],
    ['metrics.auc > 1.2.3', 'position 15: "1.2.3" is not a number'],
    ['metrics.auc > 0x10', 'position 15: "0x10" is not a number'],
    ['metrics.auc > 1 @', 'position 17: unexpected "@"'],
    ["metrics.auc = 'high'", "position 15: metrics.auc is a number: compare it with a number, not 'high'"],
    ["metrics.auc IN (1, 'x')", "position 20: metrics.auc is a number: compare it with a number, not 'x'"],
    ["metrics.auc LIKE '0.%'", 'position 1: metrics.auc is a number: LIKE and ILIKE apply to text'],
    ["attributes.colour = 'red'", 'position 1: unknown attribute "colour": use one of status, name, experiment, author, start_time, end_time, run_id, parent_run_id'],
    ["attributes.status = 'done'", "position 21: unknown status 'done': use one of running, finished, failed, killed"],
    ["attributes.status IN ('finished', 'ok')", "position 35: unknown status 'ok': use one of running, finished, failed, killed"],
    ['attributes.name = 5', "position 19: attributes.name is text: quote the value, like '5'"],
    ["attributes.start_time > 'yesterday'", "position 25: attributes.start_time is a time: give an ISO time like '2026-01-31T12:00:00Z' or epoch milliseconds"],
    ["params.x IN (1, 'a')", 'position 14: an IN list holds either numbers or quoted text, not both'],
    ['params.x IN ()', "position 14: expected a value after '(', got ')'"],
    ["params.x IN ('a' 'b')", "position 18: expected ',' or ')' to close the '(' at position 13, got 'b'"],
    ["params.x IN 'a'", "position 13: expected '(' after IN, got 'a'"],
    ['params.x NOT = 1', "position 14: expected IN, LIKE or ILIKE after NOT, got '='"],
    ['params.x IS 1', 'position 13: expected NULL after IS, got 1'],
    ['params.x IS NOT', 'position 16: expected NULL after IS NOT'],
    ['params.x LIKE 5', 'position 15: expected a quoted pattern after LIKE, got 5'],
    ["params.x LIKE 'a\\'", 'position 1: the pattern of params.x ends with a lone \\: escape it as \\\\'],
  ])('refuses %s with its position and reason', (text, reason) => {
    expect(filterError(text)).toBe(reason);
  });

  it('accepts an escaped backslash at the end of a pattern', () => {
    expect(show(parseFilter("params.x LIKE 'a\\\\'"))).toBe("param:x LIKE 'a\\\\'");
  });

  it('refuses filters that are too long or nest too deep', () => {
    expect(filterError(`metrics.a > 1${' '.repeat(MAX_FILTER_LENGTH)}`)).toBe(`position ${MAX_FILTER_LENGTH + 1}: a filter is at most ${MAX_FILTER_LENGTH} characters`);
    expect(filterError(`${'('.repeat(100)}metrics.a > 1${')'.repeat(100)}`)).toBe('position 65: parentheses nest deeper than 64');
    expect(show(parseFilter(`${'('.repeat(64)}metrics.a > 1${')'.repeat(64)}`))).toBe('metric:a > 1');
  });

  it('names the field it was given', () => {
    expect(filterError('metrics.a >', (t) => parseFilter(t, 'body.filter'), 'body.filter')).toBe("position 12: expected a value after '>'");
  });
});

describe('parseOrderBy', () => {
  const keys = (text: string | string[]) => parseOrderBy(text).map((k) => `${k.ident.kind}:${k.ident.key}${k.descending ? ' desc' : ''}`);

  it('reads keys with ASC (the default) or DESC, from text or a list', () => {
    expect(keys('metrics.auc DESC, params.lr, attributes.start_time asc')).toEqual(['metric:auc desc', 'param:lr', 'attribute:start_time']);
    expect(keys(['metrics.`val-auc` desc', 'tags.team'])).toEqual(['metric:val-auc desc', 'tag:team']);
    expect(keys('  ')).toEqual([]);
    expect(keys('attributes.run_name')).toEqual(['attribute:name']);
  });

  it('formats keys canonically, for cursors', () => {
    expect(formatOrderBy(parseOrderBy('metrics.auc desc,params.lr'))).toBe('metrics.`auc` DESC, params.`lr` ASC');
  });

  it.each([
    ['metrics.auc DOWN', 'position 13: unknown word "DOWN": name a key like metrics.auc, params.lr, tags.team or attributes.status, and quote text values'],
    ['metrics.auc DESC params.lr', 'position 18: expected ASC, DESC, \',\' or the end, got params.lr'],
    ['metrics.auc,', "position 13: expected a key to sort by after ','"],
    ['DESC', 'position 1: expected a key to sort by, like metrics.auc, got DESC'],
    ['attributes.colour', 'position 1: unknown attribute "colour": use one of status, name, experiment, author, start_time, end_time, run_id, parent_run_id'],
    ['metrics.a, metrics.b, metrics.c, metrics.d, metrics.e, metrics.f', 'position 56: sort by at most 5 keys'],
  ])('refuses %s', (text, reason) => {
    expect(filterError(text, parseOrderBy, 'orderBy')).toBe(reason);
  });
});

describe('likeToGlob', () => {
  it('translates wildcards and escapes GLOB metacharacters', () => {
    expect(likeToGlob('a%b_c')).toBe('a*b?c');
    expect(likeToGlob('100\\%')).toBe('100%');
    expect(likeToGlob('a\\_b')).toBe('a_b');
    expect(likeToGlob('x*y?[z]')).toBe('x[*]y[?][[]z]');
    expect(likeToGlob('a\\\\b')).toBe('a\\b');
  });
});
