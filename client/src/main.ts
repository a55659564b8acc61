import './styles.css';
import { browserProblem } from './browserSupport.ts';
import { Connection } from './connection.ts';
import { replaceChildren } from './dom.ts';
import { e2eeSupport } from './e2ee/frameTransforms.ts';
import { parseRoomKey } from './e2ee/roomKey.ts';
import { decodeRoomSegment, isValidRoomId } from './roomId.ts';
import { Sounds } from './sounds.ts';
import { badKeyView, badRoomView, homeView } from './ui/homeView.ts';
import { RoomPage } from './ui/roomPage.ts';
import { unsupportedView } from './ui/unsupportedView.ts';

/** Routes: `/` start page, `/r/<room id>` a room. The server serves this page for both. */
function main(app: HTMLElement): void {
  const match = /^\/r\/([^/]*)\/?$/.exec(location.pathname);
  const roomId = match ? decodeRoomSegment(match[1] ?? '') : undefined;
  if (roomId !== undefined && !isValidRoomId(roomId)) {
    replaceChildren(app, badRoomView());
    return;
  }
  // Said before anything else: no room can work here, and Join would only fail later.
  const problem = browserProblem();
  if (problem) {
    replaceChildren(app, unsupportedView(problem));
    return;
  }
  if (roomId === undefined) {
    replaceChildren(app, homeView());
    return;
  }
  // The key stays in the fragment: browsers never send it, in a request or a Referer.
  const key = parseRoomKey(location.hash);
  // Another key pasted over this one (no page load happens for a fragment): start again.
  window.addEventListener('hashchange', () => location.reload());
  if (!key.ok && key.reason === 'malformed') {
    replaceChildren(app, badKeyView());
    return;
  }
  // Never an unencrypted join into an encrypted room: without encoded transforms, stop.
  if (key.ok && e2eeSupport() === 'none') {
    replaceChildren(app, unsupportedView('no-e2ee'));
    return;
  }
  document.title = `Room ${roomId} · GhostTalk`;
  const roomKey = key.ok ? key.key : undefined;
  new RoomPage(app, roomId, new Connection(), new Sounds(), roomKey).showJoinForm();
}

const app = document.querySelector<HTMLElement>('#app');
if (app) main(app);
