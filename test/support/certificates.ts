import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** A self-signed certificate for `address`, made by openssl into `dir`. */
export function selfSignedCertificate(
  dir: string,
  address: string,
): { TLS_CERT: string; TLS_KEY: string } {
  const cert = join(dir, 'tls-cert.pem');
  const key = join(dir, 'tls-key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${address}`,
      '-addext', `subjectAltName=IP:${address}`],
    { stdio: 'pipe', timeout: 10_000 },
  ); // biome-ignore format: one openssl command line
  return { TLS_CERT: cert, TLS_KEY: key };
}
