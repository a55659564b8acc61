import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

const HOST = '127.0.0.1';

function bindUdp(port: number): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(port, HOST, () => {
      socket.off('error', reject);
      resolve({
        port: socket.address().port,
        close: () => new Promise((done) => socket.close(() => done())),
      });
    });
  });
}

function bindTcp(port: number): Promise<{ close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host: HOST, exclusive: true }, () => {
      server.off('error', reject);
      resolve({ close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

/**
 * A port on 127.0.0.1 that is free for both UDP and TCP at the time of the call
 * (the mediasoup WebRtcServer listens on both protocols on one number). The kernel
 * picks a UDP port, then TCP is tried on the same number; on a clash it retries.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const udp = await bindUdp(0);
    try {
      const tcp = await bindTcp(udp.port);
      await tcp.close();
      return udp.port;
    } catch {
      // TCP side taken: try another number.
    } finally {
      await udp.close();
    }
  }
  throw new Error('freePort: no port free for both UDP and TCP on 127.0.0.1 after 50 tries');
}

/** `count` consecutive ports, each free for UDP and TCP (one per mediasoup worker). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort();
    const held: Array<{ close: () => Promise<void> }> = [];
    try {
      for (let i = 1; i < count; i++) {
        held.push(await bindUdp(base + i));
        held.push(await bindTcp(base + i));
      }
      return base;
    } catch {
      // One of the following numbers is taken: start elsewhere.
    } finally {
      for (const socket of held) await socket.close();
    }
  }
  throw new Error(`freePortRange: no ${count} consecutive free ports after 50 tries`);
}
