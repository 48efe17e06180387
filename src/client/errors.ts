// The one place where gRPC status codes become typed errors. Everything above src/client sees
// WorkerError subclasses only, never a grpc-js ServiceError.
import { status, type ServiceError } from "@grpc/grpc-js";

export class WorkerError extends Error {
  /** gRPC status code name, e.g. "INVALID_ARGUMENT". */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}
export class InvalidArgumentError extends WorkerError {}
export class NotFoundError extends WorkerError {}
export class AlreadyExistsError extends WorkerError {}
export class FailedPreconditionError extends WorkerError {}
export class UnauthenticatedError extends WorkerError {}
export class PermissionDeniedError extends WorkerError {}
/** The worker cannot be reached (not running, wrong address, TLS mismatch, connection lost). */
export class UnavailableError extends WorkerError {}
/** The call was cancelled by this client (abort signal, Ctrl-C). */
export class CallCancelledError extends WorkerError {}
export class DeadlineExceededError extends WorkerError {}
export class ResourceExhaustedError extends WorkerError {}
export class InternalWorkerError extends WorkerError {}
export class UnimplementedError extends WorkerError {}

const BY_CODE: Record<number, new (code: string, message: string) => WorkerError> = {
  [status.INVALID_ARGUMENT]: InvalidArgumentError,
  [status.OUT_OF_RANGE]: InvalidArgumentError,
  [status.NOT_FOUND]: NotFoundError,
  [status.ALREADY_EXISTS]: AlreadyExistsError,
  [status.FAILED_PRECONDITION]: FailedPreconditionError,
  [status.UNAUTHENTICATED]: UnauthenticatedError,
  [status.PERMISSION_DENIED]: PermissionDeniedError,
  [status.UNAVAILABLE]: UnavailableError,
  [status.CANCELLED]: CallCancelledError,
  [status.DEADLINE_EXCEEDED]: DeadlineExceededError,
  [status.RESOURCE_EXHAUSTED]: ResourceExhaustedError,
  [status.UNIMPLEMENTED]: UnimplementedError,
};

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === "object" && err !== null && "code" in err && typeof (err as ServiceError).code === "number" && "details" in err;
}

/** Converts anything a grpc-js call throws into a WorkerError (other errors pass through). */
export function toWorkerError(err: unknown, address?: string): Error {
  if (err instanceof WorkerError || !isServiceError(err)) return err as Error;
  const Ctor = BY_CODE[err.code] ?? InternalWorkerError;
  const codeName = status[err.code] ?? String(err.code);
  let message = err.details || err.message;
  if (err.code === status.UNAVAILABLE && address) message = `worker at ${address} is unavailable: ${message}`;
  return new Ctor(codeName, message);
}
