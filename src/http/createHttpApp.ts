import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express } from 'express';

export type HttpAppOptions = {
  /** Built browser app (Vite output). */
  clientDir: string;
  isHealthy: () => boolean;
};

export function createHttpApp({ clientDir, isHealthy }: HttpAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => {
    const healthy = isHealthy();
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'unhealthy' });
  });

  const indexHtml = join(clientDir, 'index.html');
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
  return app;
}
