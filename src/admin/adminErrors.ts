/** An admin request that cannot be done as asked (unknown node...): the message says why. */
export class AdminRequestError extends Error {
  override name = 'AdminRequestError';
  /** The HTTP status the admin API answers with. */
  readonly status: 400 | 404 | 409;

  constructor(message: string, status: 400 | 404 | 409 = 400) {
    super(message);
    this.status = status;
  }
}

/**
 * Redis, so the rest of the cluster, does not answer: nothing was changed (or, for a
 * kick, nothing was found here); the operator can try again in a moment.
 */
export class ClusterUnreachableError extends Error {
  override name = 'ClusterUnreachableError';

  constructor(message = 'cluster unreachable, try again') {
    super(message);
  }
}
