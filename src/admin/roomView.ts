import type { PeerSnapshot, RoomSnapshot } from '../protocol/adminProtocol.ts';

/** One node's part of a room, as that node reported it: its own peers only. */
export type RoomPart = {
  id: string;
  node: string;
  createdAt: number;
  capacity: number;
  encrypted: boolean;
  /** Their node is the part's (a node answers for its own peers only). */
  peers: Omit<PeerSnapshot, 'node'>[];
};

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The node holding most of a room's people; ties (and a room nobody is in yet) go to
 * the lowest node id, so the answer does not depend on the order answers came in.
 */
function mainNode(nodes: ReadonlyMap<string, number>): string {
  let best: string | undefined;
  let most = -1;
  for (const [node, count] of [...nodes].sort(([a], [b]) => byId(a, b))) {
    if (count > most) {
      best = node;
      most = count;
    }
  }
  return best ?? '';
}

/**
 * One room per room id, from every node's parts of it (a room spanning nodes has one
 * part on each). Each part contributes its own peers, tagged with its node: never the
 * members it knows of on other nodes, which their own nodes report. `nodes` counts the
 * people on each node with a part (0 for a part whose people are still joining).
 * A peer reported by two nodes at once (a moment of a move) is listed once, on the
 * lowest node id. Sorted by main node, then age, then id: a view that did not change
 * serialises the same, whatever order the answers came in.
 */
export function mergeRoomParts(parts: readonly RoomPart[]): RoomSnapshot[] {
  const byRoom = new Map<string, RoomPart[]>();
  for (const part of parts) {
    const list = byRoom.get(part.id);
    if (list) list.push(part);
    else byRoom.set(part.id, [part]);
  }
  const rooms: RoomSnapshot[] = [];
  for (const [id, list] of byRoom) {
    list.sort((a, b) => byId(a.node, b.node));
    const counts = new Map<string, number>();
    const seen = new Set<string>();
    const peers: PeerSnapshot[] = [];
    for (const part of list) {
      counts.set(part.node, counts.get(part.node) ?? 0);
      for (const peer of part.peers) {
        if (seen.has(peer.id)) continue;
        seen.add(peer.id);
        // A node speaks for its own peers only: whatever it said, they are on it.
        peers.push({ ...peer, node: part.node });
        counts.set(part.node, (counts.get(part.node) ?? 0) + 1);
      }
    }
    if (list.length > 1) {
      peers.sort((a, b) => a.joinedAt - b.joinedAt || byId(a.node, b.node) || byId(a.id, b.id));
    }
    rooms.push({
      id,
      node: mainNode(counts),
      // fromEntries: a node id such as "__proto__" stays an ordinary key.
      nodes: Object.fromEntries(counts),
      createdAt: Math.min(...list.map((p) => p.createdAt)),
      // Every part refuses a join past its own cap (each counts the whole room).
      capacity: Math.min(...list.map((p) => p.capacity)),
      // Placement refuses a part with other encryption; any encrypted part shows it.
      encrypted: list.some((p) => p.encrypted),
      peers,
    });
  }
  return rooms.sort(
    (a, b) => byId(a.node, b.node) || a.createdAt - b.createdAt || byId(a.id, b.id),
  );
}
