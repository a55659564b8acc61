/**
 * GhostTalk's own rooms, in this process: a real GhostTalk server (as the tests start
 * it) whose rooms are created through its RoomRegistry, so media load lands on the
 * routers and speaking observers GhostTalk made, exactly as a join would find them.
 */
import type { types } from 'mediasoup';
import { startTestServer, type TestServer } from '../../test/support/testServer.ts';

export type GhostTalkRoom = {
  id: string;
  router: types.Router;
  /** The room's speaking observer: GhostTalk adds every producer to it. */
  observer: types.AudioLevelObserver | undefined;
  close: () => void;
};

export class GhostTalkRooms {
  readonly server: TestServer;
  readonly #observers = new Map<string, types.AudioLevelObserver>();

  static async start(env: Record<string, string> = {}): Promise<GhostTalkRooms> {
    const server = await startTestServer({
      ROOM_CAPACITY: '1000',
      MAX_ROOMS: '100000',
      MAX_PEERS: '1000000',
      LOG_LEVEL: 'info',
      ...env,
    });
    return new GhostTalkRooms(server);
  }

  private constructor(server: TestServer) {
    this.server = server;
    // Rooms are created later, so every room router's observer passes through here.
    for (const mediaWorker of server.server.workers.workers) {
      mediaWorker.worker.observer.on('newrouter', (router) => {
        router.observer.on('newrtpobserver', (observer) => {
          if (observer.type === 'audiolevel') {
            this.#observers.set(router.id, observer as types.AudioLevelObserver);
          }
        });
      });
    }
  }

  get workers(): types.Worker[] {
    return this.server.server.workers.workers.map((w) => w.worker);
  }

  async room(id: string): Promise<GhostTalkRoom> {
    const room = await this.server.server.rooms.getOrCreate(id, false);
    return {
      id,
      router: room.router,
      observer: this.#observers.get(room.router.id),
      close: () => room.close(),
    };
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}
