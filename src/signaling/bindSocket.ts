import { type Ack, type RequestName, requestSchemas } from '../protocol/protocol.ts';
import type { ClientSession } from './ClientSession.ts';
import type { GhostTalkSocket } from './ioTypes.ts';
import type { SignalingLimits } from './SignalingLimits.ts';

/** Feeds a socket's requests to its session, and answers events the protocol lacks. */
export function bindSocket(
  socket: GhostTalkSocket,
  session: ClientSession,
  limits: SignalingLimits,
): void {
  for (const name of Object.keys(requestSchemas) as RequestName[]) {
    socket.on(name, (...args: unknown[]) => {
      // An emit with an ack but no payload puts the ack first.
      const ack = [...args].reverse().find((a) => typeof a === 'function') as
        | ((response: Ack<unknown>) => void)
        | undefined;
      const payload = typeof args[0] === 'function' ? undefined : args[0];
      void session.request(name, payload).then((response) => ack?.(response));
    });
  }
  socket.onAny((event: string, ...args: unknown[]) => {
    if (Object.hasOwn(requestSchemas, event)) return;
    const ack = args.at(-1);
    void limits.allowMessage(socket.id).then((allowed) => {
      if (typeof ack !== 'function') return;
      const error = allowed
        ? { code: 'UNKNOWN_EVENT', message: `unknown event "${String(event).slice(0, 64)}"` }
        : { code: 'RATE_LIMITED', message: 'too many requests, slow down' };
      ack({ ok: false, error });
    });
  });
  socket.on('disconnect', (reason) => session.close(reason));
}
