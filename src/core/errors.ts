/**
 * The one error type of Cairn. Every failure a user can cause or meet is a CairnError with a
 * stable `code`; the HTTP status comes from one table so that the API, the CLI (exit codes) and
 * the SDK agree on what a code means.
 */

/** One problem with one input field: `path` is dotted/bracketed (`instances[2].distance`). */
export interface FieldError {
  path: string;
  reason: string;
}

const HTTP_STATUS = {
  VALIDATION_FAILED: 400,
  BAD_REQUEST: 400,
  INVALID_CONFIG: 500,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ENTITY_NOT_FOUND: 404,
  SOURCE_NOT_FOUND: 404,
  FEATURE_NOT_FOUND: 404,
  FEATURE_VERSION_NOT_FOUND: 404,
  FEATURE_SET_NOT_FOUND: 404,
  DATASET_NOT_FOUND: 404,
  MATERIALIZATION_NOT_FOUND: 404,
  TOKEN_NOT_FOUND: 404,
  ARTIFACT_NOT_FOUND: 404,
  EXPERIMENT_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  RUN_ARTIFACT_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  MODEL_VERSION_NOT_FOUND: 404,
  ALIAS_NOT_FOUND: 404,
  PREDICTION_NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  // The version's card blocks the request (a move to Production): fix or review the card, then retry.
  CARD_INCOMPLETE: 409,
  CARD_NOT_APPROVED: 409,
  ARTIFACT_CORRUPT: 500,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof HTTP_STATUS;

/** HTTP status for an error code; unknown codes are server errors. */
export function httpStatusFor(code: string): number {
  return (HTTP_STATUS as Record<string, number>)[code] ?? 500;
}

/** Process exit code the CLI uses for an error code: 2 for the caller's mistakes, 1 otherwise. */
export function exitCodeFor(code: string): number {
  const status = httpStatusFor(code);
  if (code === 'INVALID_CONFIG') return 78; // EX_CONFIG
  return status >= 400 && status < 500 ? 2 : 1;
}

export class CairnError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'CairnError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return httpStatusFor(this.code);
  }

  /** The API's JSON error body: `{"error": {"code", "message", "details"}}`. */
  toJSON(): { error: { code: string; message: string; details: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }

  /** A validation failure listing every bad field at once. */
  static validation(errors: FieldError[], message?: string): CairnError {
    const summary = message ?? errors.map((e) => `${e.path}: ${e.reason}`).join('; ');
    return new CairnError('VALIDATION_FAILED', summary, { errors });
  }

  static notFound(code: ErrorCode, what: string): CairnError {
    return new CairnError(code, `${what} not found`);
  }
}

/**
 * Collects field errors so that a validator reports every problem at once instead of the first.
 * `throwIfAny()` raises one VALIDATION_FAILED error naming them all.
 */
export class ValidationErrors {
  readonly errors: FieldError[] = [];

  add(path: string, reason: string): this {
    this.errors.push({ path, reason });
    return this;
  }

  get empty(): boolean {
    return this.errors.length === 0;
  }

  /** `value` if it is a string of at most `max` characters; otherwise records why and returns null. */
  text(path: string, value: unknown, max: number): string | null {
    if (typeof value !== 'string') {
      this.add(path, 'expected a string');
      return null;
    }
    if (value.length > max) {
      this.add(path, `at most ${max} characters, got ${value.length}`);
      return null;
    }
    return value;
  }

  throwIfAny(message?: string): void {
    if (this.errors.length > 0) throw CairnError.validation(this.errors, message);
  }
}

export function isCairnError(e: unknown): e is CairnError {
  return e instanceof CairnError;
}

/** A promise's value, or null when it fails with a not-found error of any kind (a 404 code). */
export async function orNullIfNotFound<T>(promise: Promise<T>): Promise<T | null> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof CairnError && err.httpStatus === 404) return null;
    throw err;
  }
}
