import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const page = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: 'client',
  build: {
    outDir: '../dist/client',
    emptyOutDir: true,
    target: 'es2022',
    rolldownOptions: {
      input: {
        main: page('client/index.html'),
        // The operators' console, served only through /admin?key=...
        admin: page('client/admin.html'),
      },
    },
  },
});
