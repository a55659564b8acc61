/**
 * Runs inside a test host's network namespace, next to Firefox: joins its WebDriver BiDi
 * WebSocket (on that namespace's loopback, out of the test's reach) to stdin/stdout, one
 * JSON message a line. Usage: node bidiBridge.ts ws://127.0.0.1:PORT/session
 */
import { createInterface } from 'node:readline';

const url = process.argv[2];
if (!url) throw new Error('usage: bidiBridge.ts <ws url>');
const socket = new WebSocket(url);
const pending: string[] = [];
socket.addEventListener('open', () => {
  for (const message of pending.splice(0)) socket.send(message);
});
socket.addEventListener('message', (event) => {
  // JSON.stringify never puts a raw newline in a message, so a line is a message.
  process.stdout.write(`${String(event.data)}\n`);
});
socket.addEventListener('close', () => process.exit(0));
socket.addEventListener('error', () => process.exit(1));
createInterface({ input: process.stdin }).on('line', (line) => {
  if (socket.readyState === WebSocket.OPEN) socket.send(line);
  else pending.push(line);
});
process.stdin.on('end', () => socket.close());
