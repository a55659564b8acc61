import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { settings } from '../config/settings.ts';
import type { Logger } from '../logging/createLogger.ts';

/** TLS_CERT / TLS_KEY cannot be used at start: the server must not start. */
export class TlsFileError extends Error {
  override name = 'TlsFileError';
}

export type TlsFiles = { certPath: string; keyPath: string };

/** A certificate chain and its key, checked to work together. */
export type TlsPair = {
  /** PEM, leaf first, then any intermediates (a "full chain" file). */
  cert: string;
  key: string;
  /** The leaf: the one that names this server. */
  leaf: X509Certificate;
};

/** Renewals write the certificate and the key one after the other: let both land. */
export const TLS_RELOAD_DEBOUNCE_MS = 500;

const CERT = `-${settings.tlsCert.flag} / ${settings.tlsCert.env}`;
const KEY = `-${settings.tlsKey.flag} / ${settings.tlsKey.env}`;
const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;
const KEY_HEADER = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
/** PKCS#8 `ENCRYPTED PRIVATE KEY`, or a traditional key with `Proc-Type: 4,ENCRYPTED`. */
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: 4,ENCRYPTED/m;

function readText(label: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new TlsFileError(`${label}: cannot read "${path}" (${code ?? message})`);
  }
}

function parseChain(path: string, text: string): X509Certificate[] {
  const blocks = text.match(CERT_BLOCK) ?? [];
  const begun = text.split('-----BEGIN CERTIFICATE-----').length - 1;
  if (blocks.length > 0 && begun > blocks.length) {
    throw new TlsFileError(
      `${CERT}: "${path}": a certificate block has no -----END CERTIFICATE----- line (half written?)`,
    );
  }
  if (blocks.length === 0) {
    const swapped = KEY_HEADER.test(text)
      ? ': it holds a private key (TLS_CERT and TLS_KEY swapped?)'
      : '';
    throw new TlsFileError(
      `${CERT}: "${path}" is not a PEM certificate (no complete -----BEGIN CERTIFICATE----- block)${swapped}`,
    );
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new TlsFileError(
        `${CERT}: "${path}": certificate ${i + 1} of ${blocks.length} cannot be parsed (${(error as Error).message})`,
      );
    }
  });
}

function parseKey(path: string, text: string): KeyObject {
  if (!KEY_HEADER.test(text)) {
    throw new TlsFileError(
      `${KEY}: "${path}" is not a PEM private key (no -----BEGIN … PRIVATE KEY----- line)`,
    );
  }
  if (ENCRYPTED_KEY.test(text)) {
    throw new TlsFileError(
      `${KEY}: "${path}" is encrypted with a passphrase, which is not supported; write it unencrypted (openssl pkey -in <encrypted> -out <key>) and keep it readable only by the server`,
    );
  }
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch (error) {
    throw new TlsFileError(
      `${KEY}: "${path}" is not a usable PEM private key (${(error as Error).message})`,
    );
  }
}

/**
 * Reads and checks TLS_CERT and TLS_KEY: both PEM, the key belongs to the first
 * certificate, and OpenSSL accepts the pair (it refuses e.g. too-short keys). Anything
 * else is a TlsFileError naming the setting, the file and what is wrong.
 */
export function readTlsPair({ certPath, keyPath }: TlsFiles): TlsPair {
  const cert = readText(CERT, certPath);
  const key = readText(KEY, keyPath);
  const [leaf] = parseChain(certPath, cert) as [X509Certificate];
  if (!leaf.checkPrivateKey(parseKey(keyPath, key))) {
    throw new TlsFileError(
      `${KEY}: "${keyPath}" is not the private key of the certificate in "${certPath}"`,
    );
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsFileError(
      `${CERT}: "${certPath}" with "${keyPath}" cannot be used for TLS (${(error as Error).message})`,
    );
  }
  return { cert, key, leaf };
}

/** Why the certificate would fail in a browser today, if it would. */
export function validityProblem(leaf: X509Certificate, now = new Date()): string | undefined {
  if (now > leaf.validToDate) {
    return `the TLS certificate expired at ${leaf.validToDate.toISOString()}`;
  }
  if (now < leaf.validFromDate) {
    return `the TLS certificate is not valid before ${leaf.validFromDate.toISOString()}`;
  }
  return undefined;
}

function summary(leaf: X509Certificate): Record<string, unknown> {
  return {
    serial: leaf.serialNumber,
    names: leaf.subjectAltName ?? leaf.subject,
    validTo: leaf.validToDate.toISOString(),
  };
}

type ReloadReason = 'file change' | 'SIGHUP';

export type TlsCertificateEvents = { renewed: [pair: TlsPair] };

/**
 * The certificate the HTTPS server presents, from TLS_CERT / TLS_KEY, kept up to date
 * with the files. It watches the folders holding them (renewals usually replace a file
 * or a symlink by rename, which a watch on the file itself would miss) and rereads
 * them TLS_RELOAD_DEBOUNCE_MS after the last change, or at once on reload(). A renewal
 * that does not check out (half written, key and certificate not matching yet,
 * expired) is not applied: the previous pair stays and a warning says why.
 */
export class TlsCertificate extends EventEmitter<TlsCertificateEvents> {
  readonly #files: TlsFiles;
  readonly #logger: Logger;
  readonly #watchers: FSWatcher[] = [];
  #pair: TlsPair;
  /**
   * What the last reload saw (content hash, or the error), so other writes in the folder
   * stay quiet and one broken renewal is reported once.
   */
  #lastSeen: string;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * Reads the pair (a TlsFileError if it is unusable); watch() then follows the files.
   * An expired certificate is served, with a warning: see README ("HTTPS").
   */
  static load(files: TlsFiles, logger: Logger): TlsCertificate {
    const pair = readTlsPair(files);
    const problem = validityProblem(pair.leaf);
    if (problem) logger.warn(`${problem}; browsers will warn about it`, summary(pair.leaf));
    else logger.info('TLS certificate loaded', summary(pair.leaf));
    return new TlsCertificate(files, logger, pair);
  }

  private constructor(files: TlsFiles, logger: Logger, pair: TlsPair) {
    super();
    this.#files = files;
    this.#logger = logger;
    this.#pair = pair;
    this.#lastSeen = fingerprint(pair.cert, pair.key);
  }

  /** Starts following the files; a folder that cannot be watched leaves SIGHUP. */
  watch(): void {
    if (this.#closed || this.#watchers.length > 0) return;
    const { certPath, keyPath } = this.#files;
    for (const dir of new Set([dirname(certPath), dirname(keyPath)])) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.#schedule());
        watcher.on('error', (error) => this.#watchFailed(dir, error));
        this.#watchers.push(watcher);
      } catch (error) {
        this.#watchFailed(dir, error as Error);
      }
    }
  }

  get pair(): TlsPair {
    return this.#pair;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** For /healthz: set while the served certificate is expired or not yet valid. */
  get problem(): string | undefined {
    return validityProblem(this.#pair.leaf);
  }

  /** Rereads the files now (SIGHUP) and logs what came of it, even if nothing changed. */
  reload(): void {
    this.#reload('SIGHUP');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers) watcher.close();
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#reload('file change'), TLS_RELOAD_DEBOUNCE_MS);
    this.#timer.unref();
  }

  #reload(reason: ReloadReason): void {
    if (this.#closed) return;
    let pair: TlsPair | undefined;
    let seen: string;
    let failure: string | undefined;
    try {
      pair = readTlsPair(this.#files);
      seen = fingerprint(pair.cert, pair.key);
      failure = validityProblem(pair.leaf);
    } catch (error) {
      if (!(error instanceof TlsFileError)) throw error;
      seen = error.message;
      failure = error.message;
    }
    // Anything else written in the same folder (logs, other certificates) lands here too.
    if (reason === 'file change' && seen === this.#lastSeen) return;
    this.#lastSeen = seen;
    if (failure || !pair) {
      this.#logger.warn('TLS certificate not reloaded; still serving the previous one', {
        reason,
        error: failure,
        serving: this.#pair.leaf.serialNumber,
      });
      return;
    }
    if (pair.cert === this.#pair.cert && pair.key === this.#pair.key) {
      this.#logger.info('TLS certificate unchanged', { reason, ...summary(pair.leaf) });
      return;
    }
    this.#pair = pair;
    this.emit('renewed', pair);
    this.#logger.info('TLS certificate reloaded', { reason, ...summary(pair.leaf) });
  }

  #watchFailed(dir: string, error: Error): void {
    this.#logger.warn('cannot watch the TLS certificate folder; send SIGHUP after a renewal', {
      dir,
      error: error.message,
    });
  }
}

function fingerprint(cert: string, key: string): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}
