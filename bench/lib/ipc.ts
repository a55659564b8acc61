/**
 * Request/response over a forked child's IPC channel, so load generators and the
 * server under test can run in their own processes (their CPU is then theirs alone).
 *
 *   parent: const child = await spawnChild(new URL('./loadgen.ts', import.meta.url));
 *           const ports = await child.call('init', { sockets: 4 });
 *   child:  serve({ init: async ({ sockets }) => ... });
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

type Request = { id: number; method: string; args: unknown };
type Response = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export type Handlers = Record<string, (args: never) => unknown>;

export class Child {
  readonly process: ChildProcess;
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;
  #exited = false;

  constructor(child: ChildProcess) {
    this.process = child;
    child.on('message', (message: Response) => {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.ok) pending.resolve(message.value);
      else pending.reject(new Error(message.error));
    });
    child.once('exit', (code, signal) => {
      this.#exited = true;
      const error = new Error(`child exited (code ${code}, signal ${signal})`);
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  call<T = unknown>(method: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`child exited before ${method}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`child ${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.process.send({ id, method, args } satisfies Request);
    });
  }

  /** Asks the child to exit; kills it if it has not within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.call('exit', {}, graceMs).catch(() => undefined);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Forks a TypeScript module with the same Node binary (Node 24 strips types itself). */
export async function spawnChild(module: URL, execArgv: string[] = []): Promise<Child> {
  const child = fork(fileURLToPath(module), [], {
    execArgv: [...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (message) => {
      if (message === 'ready') resolve();
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`child ${module.pathname} exited with ${code}`)));
  });
  return new Child(child);
}

/** In the child: answers the parent's calls; `exit` is built in. */
export function serve(handlers: Handlers): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('serve() must run in a forked child');
  process.on('message', (message: Request) => {
    if (message.method === 'exit') {
      send({ id: message.id, ok: true, value: null } satisfies Response, () => process.exit(0));
      return;
    }
    const handler = handlers[message.method] as ((args: unknown) => unknown) | undefined;
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown method ${message.method}`);
        return handler(message.args);
      })
      .then(
        (value) => send({ id: message.id, ok: true, value: value ?? null } satisfies Response),
        (error: unknown) =>
          send({
            id: message.id,
            ok: false,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          } satisfies Response),
      );
  });
  // The parent going away ends us too.
  process.on('disconnect', () => process.exit(0));
  send('ready');
}
