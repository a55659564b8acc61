/** Limits shared by server validation and the browser's input fields. */
export const NICKNAME_MAX_CHARS = 32;
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The browser's reconnect backoff (socket.io's exponential delay with jitter). The
 * server's per-IP budgets must always admit a client that follows it: a test checks.
 */
export const RECONNECT_BACKOFF = {
  reconnectionDelay: 500,
  reconnectionDelayMax: 5_000,
  randomizationFactor: 0.5,
} as const;
