import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Registry } from 'prom-client';
import type { AdminAuth } from '../admin/AdminAuth.ts';
import type { AdminService } from '../admin/AdminService.ts';
import { SESSION_COOKIE, sessionFromCookie } from '../admin/AdminSessions.ts';
import { AdminRequestError, ClusterUnreachableError } from '../admin/adminErrors.ts';
import { BanSyntaxError } from '../admin/BanList.ts';
import type { Logger } from '../logging/createLogger.ts';
import { resolveClientIp, type TrustFunction } from './clientIp.ts';

export type HttpAppOptions = {
  /** Built browser app (Vite output). */
  clientDir: string;
  isHealthy: () => boolean;
  /** In a cluster, while the node hands its rooms over before exiting. */
  draining?: () => boolean;
  /** Problems that leave the server serving but need an operator (e.g. server.log unwritable). */
  degradedReasons: () => string[];
  /** Compiled TRUSTED_PROXIES, shared with socket.io. */
  trust: TrustFunction;
  /** ALLOWED_ORIGINS: the only other places the pages may connect to. */
  allowedOrigins: readonly string[];
  isBanned: (ip: string) => boolean;
  admin: AdminService;
  auth: AdminAuth;
  metrics: Registry;
  logger: Logger;
};

/**
 * The Content-Security-Policy the browser app and the admin page are built to pass.
 * `'self'` covers our own ws:/wss: too (CSP 3); each allowed origin is listed with its
 * WebSocket twin (the setting only takes http: and https: origins).
 */
export function contentSecurityPolicy(allowedOrigins: readonly string[]) {
  const connect = allowedOrigins.flatMap((origin) => [origin, origin.replace(/^http/, 'ws')]);
  return {
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'connect-src': ["'self'", ...connect],
    'media-src': ["'self'", 'blob:'],
    'style-src': ["'self'"],
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'"],
    'object-src': ["'none'"],
    'base-uri': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
    'script-src-attr': ["'none'"],
    // Plain-HTTP LAN deployments exist; upgrading their requests would break them.
    'upgrade-insecure-requests': null,
  };
}

/**
 * What express.static may be asked for: plain names only. No `%` escapes, empty or dot
 * segments, trailing slashes, and no HTML (pages go through their own routes), so no
 * spelling of `/admin.html` (`/%61dmin.html`, `//admin.html`, `/./admin.html`,
 * `/ADMIN.HTML` on a case-insensitive disk...) reaches the file.
 */
const STATIC_PATH = /^\/(?:[\w-][\w.-]*\/)*[\w-][\w.-]*$/;
const servable = (path: string) => STATIC_PATH.test(path) && !/\.html?$/i.test(path);

const BODY_LIMIT = '8kb';

function clientIp(res: Response): string {
  return res.locals.clientIp as string;
}

/** The key from `Authorization: Bearer` or `?key=` (scripts, and the console's first load). */
function keyFrom(req: Request): string | undefined {
  const header = req.get('authorization');
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (match) return match[1];
  const fromQuery = req.query.key;
  return typeof fromQuery === 'string' ? fromQuery : undefined;
}

function param(req: Request, name: string): string | undefined {
  const fromQuery = req.query[name];
  if (typeof fromQuery === 'string') return fromQuery;
  const body = req.body as Record<string, unknown> | undefined;
  const fromBody = body?.[name];
  return typeof fromBody === 'string' ? fromBody : undefined;
}

function methodNotAllowed(res: Response, allow: string): void {
  res.set('Allow', allow).status(405).type('text').send('Method Not Allowed');
}

export function createHttpApp(options: HttpAppOptions): Express {
  const { clientDir, isHealthy, trust, allowedOrigins, isBanned, admin, auth, metrics, logger } =
    options;
  const app = express();
  app.disable('x-powered-by');
  // Express's req.ip / req.protocol follow the same trust function as our own resolution.
  app.set('trust proxy', trust);

  app.use((req, res, next) => {
    res.locals.clientIp = resolveClientIp(req, trust);
    next();
  });

  // Liveness stays answerable whatever the ban list says (Docker probes from loopback).
  app.get('/healthz', (_req, res) => {
    // A draining node must get no new connections from a load balancer.
    if (options.draining?.()) {
      res.status(503).json({ status: 'draining' });
      return;
    }
    if (!isHealthy()) {
      res.status(503).json({ status: 'unhealthy' });
      return;
    }
    // Still 200: an orchestrator must not restart a server that is serving.
    const reasons = options.degradedReasons();
    res.json(reasons.length > 0 ? { status: 'degraded', reasons } : { status: 'ok' });
  });

  app.use((_req, res, next) => {
    if (isBanned(clientIp(res))) {
      res.status(403).type('text').send('Forbidden');
      return;
    }
    next();
  });

  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: true,
        directives: contentSecurityPolicy(allowedOrigins),
      },
      referrerPolicy: { policy: 'no-referrer' },
    }),
  );
  app.use((_req, res, next) => {
    res.set(
      'Permissions-Policy',
      'microphone=(self), camera=(), geolocation=(), payment=(), usb=()',
    );
    next();
  });

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.contentType).send(await metrics.metrics());
  });

  const adminHtml = join(clientDir, 'admin.html');
  app.all(
    '/admin',
    express.urlencoded({ extended: false, limit: BODY_LIMIT }),
    express.json({ limit: BODY_LIMIT }),
    async (req, res) => {
      res.set('Cache-Control', 'no-store');
      const ip = clientIp(res);
      const result = await auth.authenticate(ip, {
        key: keyFrom(req),
        session: sessionFromCookie(req.headers.cookie),
      });
      if (!result.ok) {
        if (result.reason === 'limited') {
          logger.warn('admin login refused', { ip, reason: 'rate limited' });
          res.set('Retry-After', String(result.retryAfterSeconds));
          res.status(429).type('text').send('Too Many Requests');
        } else if (result.reason === 'missing') {
          res.set('WWW-Authenticate', 'Bearer realm="GhostTalk admin"');
          res.status(401).type('text').send('Unauthorized');
        } else {
          logger.warn('admin login refused', { ip, reason: 'wrong key' });
          res.status(403).type('text').send('Forbidden');
        }
        return;
      }
      const actor = { via: 'http' as const, ip };
      const action = param(req, 'action') ?? '';
      const readOnly = req.method === 'GET' || req.method === 'HEAD' || req.method === 'POST';
      switch (action) {
        case '':
          if (req.method !== 'GET' && req.method !== 'HEAD')
            return methodNotAllowed(res, 'GET, HEAD');
          if (!existsSync(adminHtml)) {
            res.status(503).type('text').send('The admin page is not built: run `npm run build`.');
            return;
          }
          // Opened with the key: from now on the console goes by this cookie, and the page
          // drops the key from the address bar.
          if (result.via === 'key') {
            res.cookie(SESSION_COOKIE, auth.sessions.open(), {
              httpOnly: true,
              sameSite: 'strict',
              secure: req.secure,
              path: '/',
              maxAge: auth.sessions.ttlSeconds * 1000,
            });
          }
          res.sendFile(adminHtml, { maxAge: 0, cacheControl: false });
          return;
        case 'stats':
          if (!readOnly) return methodNotAllowed(res, 'GET, HEAD, POST');
          res.json(await admin.statsJson());
          return;
        case 'logs':
          if (!readOnly) return methodNotAllowed(res, 'GET, HEAD, POST');
          res.json({ lines: admin.logTail.lines().map((line) => JSON.parse(line) as unknown) });
          return;
        case 'ban':
        case 'unban':
        case 'kick':
        case 'drain': {
          if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
          const name = action === 'kick' ? 'peer' : action === 'drain' ? 'node' : 'ip';
          const target = param(req, name);
          if (!target) {
            res.status(400).json({ ok: false, error: `${name} is required` });
            return;
          }
          try {
            if (action === 'ban') res.json({ ok: true, ...(await admin.ban(target, actor)) });
            else if (action === 'unban')
              res.json({ ok: true, removed: await admin.unban(target, actor) });
            else if (action === 'kick')
              res.json({ ok: true, kicked: await admin.kick(target, actor) });
            else res.json({ ok: true, ...(await admin.drain(target, actor)) });
          } catch (error) {
            // Redis away: nothing changed, and trying again later is the answer.
            if (error instanceof ClusterUnreachableError) {
              res.status(503).set('Retry-After', '5').json({ ok: false, error: error.message });
              return;
            }
            if (error instanceof AdminRequestError) {
              res.status(error.status).json({ ok: false, error: error.message });
              return;
            }
            if (!(error instanceof BanSyntaxError)) throw error;
            res.status(400).json({ ok: false, error: error.message });
          }
          return;
        }
        default:
          res.status(400).json({
            ok: false,
            error: 'unknown action: use stats, logs, ban, unban, kick or drain',
          });
      }
    },
  );

  const indexHtml = join(clientDir, 'index.html');
  if (existsSync(indexHtml)) {
    // The admin page is only served through /admin (see STATIC_PATH).
    const serveStatic = express.static(clientDir, { index: false, maxAge: '1h', redirect: false });
    app.use((req, res, next) => (servable(req.path) ? serveStatic(req, res, next) : next()));
    // The single page app routes itself: `/` and `/r/<room>` get the same page. A pattern,
    // not `/r/:room`: Express would answer a malformed escape (`/r/%E0`) with a bare 400
    // while decoding the parameter, and the page is what explains a bad link.
    app.get(['/', /^\/r\/[^/]+\/?$/], (_req, res) => {
      res.sendFile(indexHtml, { maxAge: 0 });
    });
  } else {
    app.get('/', (_req, res) => {
      res.status(503).type('text').send('The browser app is not built: run `npm run build`.');
    });
  }

  app.use((_req, res) => {
    res.status(404).type('text').send('Not Found');
  });

  // Oversized or malformed bodies: a short answer, not a stack trace.
  app.use(
    (
      error: Error & { status?: number; type?: string },
      _req: Request,
      res: Response,
      next: (e?: unknown) => void,
    ) => {
      if (res.headersSent) return next(error);
      const status = error.status && error.status >= 400 && error.status < 500 ? error.status : 500;
      if (status === 500) logger.error('http request failed', { error: error.message });
      res
        .status(status)
        .type('text')
        .send(
          status === 413
            ? 'Payload Too Large'
            : status === 500
              ? 'Internal Server Error'
              : 'Bad Request',
        );
    },
  );
  return app;
}
