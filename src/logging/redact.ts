import winston from 'winston';

/** Field names whose values never reach a log: the admin key, TURN secrets, tokens. */
const SECRET_FIELD =
  /^(.*key|.*secret.*|.*pass|.*passwd|.*password|.*credentials?|authorization|.*token|cookie)$/i;
/** `?key=...` or `&token=...` inside a logged URL or message. */
const SECRET_QUERY = /([?&](?:key|token|secret|pass|password|credential)=)[^&\s"']+/gi;
const REDACTED = '[redacted]';

function redactString(value: string, secrets: readonly string[]): string {
  let out = value.replace(SECRET_QUERY, `$1${REDACTED}`);
  for (const secret of secrets) {
    if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

function redactValue(value: unknown, secrets: readonly string[], depth: number): unknown {
  if (typeof value === 'string') return redactString(value, secrets);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secrets, depth + 1));
  if (value instanceof Error) return redactString(value.message, secrets);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_FIELD.test(k) ? REDACTED : redactValue(v, secrets, depth + 1);
  }
  return out;
}

/**
 * A winston format that masks secret-looking fields (key, secret, pass, password,
 * credential, authorization, token), `key=` query parameters and the literal values of
 * the configured secrets, wherever they appear in a log entry.
 */
export const redact = winston.format((info, opts: unknown) => {
  const secrets = (opts as { secrets?: readonly string[] } | undefined)?.secrets ?? [];
  for (const key of Object.keys(info)) {
    if (key === 'level') continue;
    info[key] = SECRET_FIELD.test(key) ? REDACTED : redactValue(info[key], secrets, 0);
  }
  return info;
});
