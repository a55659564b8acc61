import './styles.css';
import { browserProblem } from './browserSupport.ts';
import { Connection } from './connection.ts';
import { replaceChildren } from './dom.ts';
import { decodeRoomSegment, isValidRoomId } from './roomId.ts';
import { Sounds } from './sounds.ts';
import { badRoomView, homeView } from './ui/homeView.ts';
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
  document.title = `Room ${roomId} · GhostTalk`;
  new RoomPage(app, roomId, new Connection(), new Sounds()).showJoinForm();
}

const app = document.querySelector<HTMLElement>('#app');
if (app) main(app);
