import './styles.css';
import { Connection } from './connection.ts';
import { replaceChildren } from './dom.ts';
import { decodeRoomSegment, isValidRoomId } from './roomId.ts';
import { Sounds } from './sounds.ts';
import { badRoomView, homeView } from './ui/homeView.ts';
import { RoomPage } from './ui/roomPage.ts';

/** Routes: `/` start page, `/r/<room id>` a room. The server serves this page for both. */
function main(app: HTMLElement): void {
  const match = /^\/r\/([^/]*)\/?$/.exec(location.pathname);
  if (!match) {
    replaceChildren(app, homeView());
    return;
  }
  const roomId = decodeRoomSegment(match[1] ?? '');
  if (!isValidRoomId(roomId)) {
    replaceChildren(app, badRoomView());
    return;
  }
  document.title = `Room ${roomId} · GhostTalk`;
  new RoomPage(app, roomId, new Connection(), new Sounds()).showJoinForm();
}

const app = document.querySelector<HTMLElement>('#app');
if (app) main(app);
