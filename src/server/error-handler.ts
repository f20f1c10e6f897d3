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

/** Turns ajv's errors into Cairn field errors: one per problem, with a path and a plain reason. */
export function ajvToFieldErrors(errors: AjvError[], context: string): FieldError[] {
  const where = context === 'body' ? '' : context;
  return errors.map((e) => {
    let p = jsonPointerToPath(e.instancePath ?? '', where);
    let reason = e.message ?? 'invalid';
    if (e.keyword === 'required' && typeof e.params?.missingProperty === 'string') {
      p = p ? `${p}.${e.params.missingProperty}` : e.params.missingProperty;
      reason = 'required';
    } else if (e.keyword === 'additionalProperties' && typeof e.params?.additionalProperty === 'string') {
      p = p ? `${p}.${e.params.additionalProperty}` : e.params.additionalProperty;
      reason = 'unknown field';
    } else if (e.keyword === 'enum' && Array.isArray(e.params?.allowedValues)) {
      reason = `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
    }
    return { path: p || context, reason };
  });
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
