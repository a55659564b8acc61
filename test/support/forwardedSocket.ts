import { io, type Socket } from 'socket.io-client';

/**
 * A raw socket.io client that claims to be `ip` in X-Forwarded-For, for a server that
 * trusts loopback as a proxy: many client addresses from one test process. Resolves on
 * connect or with the refusal's message; the socket is added to `into` for cleanup.
 */
export function connectAs(
  url: string,
  ip: string,
  into: Socket[],
): Promise<{ socket: Socket; error?: string }> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { 'X-Forwarded-For': ip },
  });
  into.push(socket);
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket }));
    socket.once('connect_error', (error) => resolve({ socket, error: error.message }));
  });
}
