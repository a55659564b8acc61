/**
 * The container's HEALTHCHECK: asks this container's own server for /healthz, over
 * HTTPS when TLS_CERT is set. The certificate names the public host, not 127.0.0.1, so it
 * is not verified: this only talks to our own process on loopback.
 */
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

const port = process.env.PORT || '8080';
const tls = Boolean(process.env.TLS_CERT);
const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/healthz`;
const request = tls ? httpsGet(url, { rejectUnauthorized: false }) : httpGet(url);
request.setTimeout(4000, () => request.destroy(new Error('timed out')));
request.on('response', (response) => process.exit(response.statusCode === 200 ? 0 : 1));
request.on('error', () => process.exit(1));
