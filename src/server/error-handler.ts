import type { FastifyError, FastifyInstance } from 'fastify';
import { CairnError, type FieldError } from '../core/errors.js';

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** `/features/0/ref` → `features[0].ref`, the path style of every Cairn error. */
export function jsonPointerToPath(pointer: string, prefix = ''): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = prefix;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/**
 * Turns ajv's errors into Cairn field errors: one per field, with a path and a plain reason.
 * A value that fails a union (anyOf) yields one error naming every accepted type, not one per branch.
 */
export function ajvToFieldErrors(errors: AjvError[], context: string): FieldError[] {
  const where = context === 'body' ? '' : context;
  const byPath = new Map<string, { types: string[]; reasons: string[]; data: unknown; hasData: boolean }>();
  for (const e of errors) {
    let p = jsonPointerToPath(e.instancePath ?? '', where);
    let reason: string | null = e.message ?? 'invalid';
    if (e.keyword === 'required' && typeof e.params?.missingProperty === 'string') {
      p = p ? `${p}.${e.params.missingProperty}` : e.params.missingProperty;
      reason = 'required';
    } else if (e.keyword === 'additionalProperties' && typeof e.params?.additionalProperty === 'string') {
      p = p ? `${p}.${e.params.additionalProperty}` : e.params.additionalProperty;
      reason = 'unknown field';
    } else if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      reason = null; // the branches' own errors say what was expected
    }
    p ||= context;
    let entry = byPath.get(p);
    if (!entry) byPath.set(p, (entry = { types: [], reasons: [], data: undefined, hasData: false }));
    if (e.keyword === 'type' && typeof e.params?.type === 'string') {
      entry.types.push(e.params.type);
      if ('data' in e) {
        entry.data = (e as { data?: unknown }).data;
        entry.hasData = true;
      }
    } else if (e.keyword === 'const' && e.params && 'allowedValue' in e.params) {
      entry.types.push(JSON.stringify(e.params.allowedValue));
    } else if (e.keyword === 'enum' && Array.isArray(e.params?.allowedValues)) {
      entry.types.push(...(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)));
    } else if (reason !== null && !entry.reasons.includes(reason)) {
      entry.reasons.push(reason);
    }
  }
  const out: FieldError[] = [];
  for (const [p, entry] of byPath) {
    // A type mismatch explains any other failure at the same path (a union's branch rules).
    if (entry.types.length > 0) {
      const got = entry.hasData ? `, got ${describe(entry.data)}` : '';
      out.push({ path: p, reason: `expected ${[...new Set(entry.types)].join(' or ')}${got}` });
    } else if (entry.reasons.length > 0) {
      out.push({ path: p, reason: entry.reasons.join('; ') });
    }
  }
  return out;
}

/**
 * One error shape for every route: `{"error": {"code", "message", "details"}}`. CairnErrors keep
 * their code; schema failures become VALIDATION_FAILED with every field; anything unexpected is
 * logged in full and answered with a 500 that leaks nothing.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | CairnError | Error, request, reply) => {
    let e: CairnError;
    if (err instanceof CairnError) {
      e = err;
    } else if ((err as FastifyError).validation) {
      const fe = err as FastifyError;
      e = CairnError.validation(ajvToFieldErrors(fe.validation as AjvError[], fe.validationContext ?? 'body'));
    } else if ((err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      e = new CairnError('PAYLOAD_TOO_LARGE', `request body is larger than the limit of ${app.initialConfig.bodyLimit} bytes`);
    } else if ((err as FastifyError).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      e = new CairnError('UNSUPPORTED_MEDIA_TYPE', 'send JSON with Content-Type: application/json');
    } else if ((err as FastifyError).code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
      e = new CairnError('BAD_REQUEST', `the body is not valid JSON: ${err.message}`);
    } else if (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! < 500) {
      e = new CairnError('BAD_REQUEST', err.message);
    } else {
      request.log.error({ err }, 'unhandled error');
      e = new CairnError('INTERNAL', 'internal error; the server log has the details', { requestId: request.id });
    }
    if (e.httpStatus >= 500 && e.code !== 'INTERNAL') request.log.error({ err: e }, e.message);
    void reply.status(e.httpStatus).send(e.toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    const e = new CairnError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
    void reply.status(404).send(e.toJSON());
  });
}
