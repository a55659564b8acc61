import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Registry } from 'prom-client';
import type { AdminAuth } from '../admin/AdminAuth.ts';
import type { AdminService } from '../admin/AdminService.ts';
import { BanSyntaxError } from '../admin/BanList.ts';
import type { Logger } from '../logging/createLogger.ts';
import { resolveClientIp, type TrustFunction } from './clientIp.ts';

export type HttpAppOptions = {
  /** Built browser app (Vite output). */
  clientDir: string;
  isHealthy: () => boolean;
  /** Compiled TRUSTED_PROXIES, shared with socket.io. */
  trust: TrustFunction;
  isBanned: (ip: string) => boolean;
  admin: AdminService;
  auth: AdminAuth;
  metrics: Registry;
  logger: Logger;
};

/** The Content-Security-Policy the browser app and the admin page are built to pass. */
export const contentSecurityPolicy = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'connect-src': ["'self'", 'ws:', 'wss:'],
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

const BODY_LIMIT = '8kb';

function clientIp(res: Response): string {
  return res.locals.clientIp as string;
}

function bearer(req: Request): string | undefined {
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
  const { clientDir, isHealthy, trust, isBanned, admin, auth, metrics, logger } = options;
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
    const healthy = isHealthy();
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'unhealthy' });
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
      contentSecurityPolicy: { useDefaults: true, directives: contentSecurityPolicy },
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
      const result = await auth.check(ip, bearer(req));
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
          res.sendFile(adminHtml, { maxAge: 0, cacheControl: false });
          return;
        case 'stats':
          if (!readOnly) return methodNotAllowed(res, 'GET, HEAD, POST');
          res.json(admin.statsJson());
          return;
        case 'logs':
          if (!readOnly) return methodNotAllowed(res, 'GET, HEAD, POST');
          res.json({ lines: admin.logTail.lines().map((line) => JSON.parse(line) as unknown) });
          return;
        case 'ban':
        case 'unban': {
          if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
          const target = param(req, 'ip');
          if (!target) {
            res.status(400).json({ ok: false, error: 'ip is required' });
            return;
          }
          try {
            if (action === 'ban') res.json({ ok: true, ...admin.ban(target, actor) });
            else res.json({ ok: true, removed: admin.unban(target, actor) });
          } catch (error) {
            if (!(error instanceof BanSyntaxError)) throw error;
            res.status(400).json({ ok: false, error: error.message });
          }
          return;
        }
        default:
          res
            .status(400)
            .json({ ok: false, error: 'unknown action: use stats, logs, ban or unban' });
      }
    },
  );

  const indexHtml = join(clientDir, 'index.html');
  // The admin page is only served through /admin?key=...
  app.get('/admin.html', (_req, res) => {
    res.status(404).type('text').send('Not Found');
  });
  if (existsSync(indexHtml)) {
    app.use(express.static(clientDir, { index: false, maxAge: '1h' }));
    // The single page app routes itself: `/` and `/r/<room>` get the same page.
    app.get(['/', '/r/:room'], (_req, res) => {
      res.sendFile(indexHtml, { maxAge: 0 });
    });
  } else {
    app.get('/', (_req, res) => {
      res.status(503).type('text').send('The browser app is not built: run `npm run build`.');
    });
  }

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
