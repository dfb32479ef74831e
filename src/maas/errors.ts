// Failures of a MAAS API call, typed by what the caller should do about them. Each carries
// the HTTP method and the API path (never the query's values beyond the path, never the key).

/** Base class: any failed MAAS API call. */
export class MaasApiError extends Error {
  override name = 'MaasApiError';
  constructor(
    /** HTTP method of the failed call. */
    readonly method: string,
    /** Path below the API root, e.g. `machines/abc123/`. */
    readonly path: string,
    /** HTTP status, when MAAS answered at all. */
    readonly status: number | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`MAAS ${method} ${path}: ${message}`, options);
  }
}

/** 401 or 403: the key is wrong, revoked, or lacks the rights. Retrying will not help. */
export class MaasUnauthorizedError extends MaasApiError {
  override name = 'MaasUnauthorizedError';
}

/** 404: the object (machine, VLAN, ...) does not exist. */
export class MaasNotFoundError extends MaasApiError {
  override name = 'MaasNotFoundError';
}

/** 400: MAAS rejected the request; `fields` holds its form errors (field → messages) when it sent them. */
export class MaasBadRequestError extends MaasApiError {
  override name = 'MaasBadRequestError';
  constructor(
    method: string,
    path: string,
    message: string,
    /** MAAS's validation errors, e.g. `{ mac_addresses: ['MAC address … already in use on …'] }`. */
    readonly fields: Readonly<Record<string, readonly string[]>>,
  ) {
    super(method, path, 400, message);
  }
}

/** 409: the request conflicts with the object's current state. */
export class MaasConflictError extends MaasApiError {
  override name = 'MaasConflictError';
}

/** 5xx, timeout, refused or reset connection: MAAS is (for now) unreachable. Retryable. */
export class MaasUnavailableError extends MaasApiError {
  override name = 'MaasUnavailableError';
}

/** MAAS answered 2xx, but not with the shape this client expects (a version skew, or not MAAS). */
export class MaasResponseShapeError extends MaasApiError {
  override name = 'MaasResponseShapeError';
}

/** Whether retrying the same call later may succeed. */
export const isRetryableMaasError = (error: unknown): boolean =>
  error instanceof MaasUnavailableError;
