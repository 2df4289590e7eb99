// The small set of errors domain code throws. One mapping per edge turns them into a status
// (HTTP below, gRPC in grpc.ts, Connect in the wallet); anything else is reported as internal,
// with detail only in the log. No transport library is imported here, so domain code that
// throws does not load one.

export const ERROR_CODES = [
  "invalid_argument",
  "unauthenticated",
  "permission_denied",
  "not_found",
  "already_exists",
  "failed_precondition",
  "resource_exhausted",
  "unavailable",
  "deadline_exceeded",
  "internal",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error whose message is safe to show to the caller. Never put a secret in it. */
export class AppError extends Error {
  readonly code: ErrorCode;
  /** Seconds the caller should wait before retrying (resource_exhausted). */
  readonly retryAfterSeconds: number | undefined;
  /**
   * HTTP's finer word for a failed_precondition: 409 (the change conflicts with the state, e.g.
   * removing a team's last owner) or 410 (the thing is used up or expired, e.g. an
   * invitation). gRPC and Connect have no such codes and answer FAILED_PRECONDITION.
   */
  readonly httpStatus: 409 | 410 | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; httpStatus?: 409 | 410 },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.httpStatus = options?.httpStatus;
  }
}

export const invalidArgument = (message: string) => new AppError("invalid_argument", message);
export const notFound = (message: string) => new AppError("not_found", message);
export const alreadyExists = (message: string) => new AppError("already_exists", message);
export const permissionDenied = (message: string) => new AppError("permission_denied", message);
export const unauthenticated = (message: string) => new AppError("unauthenticated", message);
export const failedPrecondition = (message: string) => new AppError("failed_precondition", message);
/** failed_precondition, HTTP 409: the request conflicts with the current state. */
export const conflict = (message: string) => new AppError("failed_precondition", message, { httpStatus: 409 });
/** failed_precondition, HTTP 410: the thing asked for is used up or expired. */
export const gone = (message: string) => new AppError("failed_precondition", message, { httpStatus: 410 });
export const unavailable = (message: string, cause?: unknown) => new AppError("unavailable", message, { cause });

const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 412,
  resource_exhausted: 429,
  unavailable: 503,
  deadline_exceeded: 504,
  internal: 500,
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}
