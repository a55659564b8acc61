/**
 * AES-GCM for encoded audio frames, one key per sender, derived from the room key.
 * Pure WebCrypto (globalThis.crypto.subtle): runs in the E2EE worker and in Node.
 *
 * Frame layout (all lengths in bytes):
 *
 *   [ TOC (1) | AES-GCM ciphertext of the rest of the frame + tag (n-1 + 16) | IV (12) ]
 *
 * The Opus TOC byte stays in the clear so the SFU can still read the frame's mode and
 * size; it is the additional authenticated data, so changing it fails the tag. The IV is
 * a random 4-byte prefix per encryptor followed by a 64-bit big-endian counter. An empty
 * frame passes unchanged both ways (there is nothing to hide or check in it).
 */
import { roomKeyBytes } from './roomKey.ts';

export type SenderKey = Awaited<ReturnType<typeof crypto.subtle.deriveKey>>;

const TAG_BYTES = 16;
const IV_BYTES = 12;
const PREFIX_BYTES = 4;
/** 16 tag + 12 IV: the TOC byte is moved, not added. */
export const FRAME_OVERHEAD_BYTES = TAG_BYTES + IV_BYTES;
/** TOC + tag + IV: the shortest frame an encryptor can produce. */
const MIN_SEALED_BYTES = 1 + FRAME_OVERHEAD_BYTES;

const MAX_COUNTER = 0xffff_ffff_ffff_ffffn;
/** Changing it (and the info label) gives every room new sender keys: bump with the format. */
const HKDF_SALT = new TextEncoder().encode('GhostTalk e2ee audio salt v1');

/**
 * The AES-GCM-128 key of one sender (its peer id as the server assigned it): senders
 * never share a key, so the SFU cannot pass one person's frames off as another's.
 */
export async function deriveSenderKey(roomKey: string, senderId: string): Promise<SenderKey> {
  const bytes = roomKeyBytes(roomKey);
  if (!bytes) throw new Error('malformed room key');
  const base = await crypto.subtle.importKey('raw', bytes, 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: HKDF_SALT,
      info: new TextEncoder().encode(`ghosttalk audio ${senderId}`),
    },
    base,
    { name: 'AES-GCM', length: 128 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** One per sending session (a new producer gets a new one, with a new IV prefix). */
export class FrameEncryptor {
  readonly #key: SenderKey;
  readonly #prefix: Uint8Array<ArrayBuffer>;
  #counter: bigint;

  /** `counterStart` is for tests; by default the counter starts at a random point. */
  constructor(key: SenderKey, counterStart?: bigint) {
    this.#key = key;
    this.#prefix = crypto.getRandomValues(new Uint8Array(PREFIX_BYTES));
    // Two encryptors of one sender (it rejoined with the same peer id) share a key. A
    // random 63-bit start on top of the random prefix makes their IVs collide only if
    // the prefixes match (2^-32) and their counter ranges overlap (~2^-40 for a
    // day-long call), where a counter from 0 would rely on the prefix alone. 2^63
    // frames remain before the counter could wrap.
    this.#counter = counterStart ?? randomCounterStart();
  }

  async encrypt(frame: ArrayBuffer): Promise<ArrayBuffer> {
    if (frame.byteLength === 0) return frame;
    if (this.#counter > MAX_COUNTER) throw new Error('IV counter exhausted');
    const iv = new Uint8Array(IV_BYTES);
    iv.set(this.#prefix);
    new DataView(iv.buffer).setBigUint64(PREFIX_BYTES, this.#counter);
    // Taken before the await: concurrent calls never see the same counter.
    this.#counter++;
    const input = new Uint8Array(frame);
    const sealed = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: input.subarray(0, 1), tagLength: TAG_BYTES * 8 },
      this.#key,
      input.subarray(1),
    );
    const out = new Uint8Array(1 + sealed.byteLength + IV_BYTES);
    out[0] = input[0] as number;
    out.set(new Uint8Array(sealed), 1);
    out.set(iv, 1 + sealed.byteLength);
    return out.buffer;
  }
}

/**
 * One per received sender. Never throws: a frame that is too short, fails the tag or
 * repeats an IV already accepted gives null and counts as failed.
 */
export class FrameDecryptor {
  readonly #key: SenderKey;
  /** Per IV prefix (one per encryptor of this sender), most recently used last. */
  readonly #windows = new Map<number, ReplayWindow>();
  #decrypted = 0;
  #failed = 0;

  constructor(key: SenderKey) {
    this.#key = key;
  }

  get decrypted(): number {
    return this.#decrypted;
  }

  get failed(): number {
    return this.#failed;
  }

  async decrypt(frame: ArrayBuffer): Promise<ArrayBuffer | null> {
    if (frame.byteLength === 0) return frame;
    try {
      if (frame.byteLength < MIN_SEALED_BYTES) return this.#fail();
      const bytes = new Uint8Array(frame);
      const ivAt = frame.byteLength - IV_BYTES;
      const iv = bytes.slice(ivAt);
      const view = new DataView(iv.buffer);
      const prefix = view.getUint32(0);
      const counter = view.getBigUint64(PREFIX_BYTES);
      // Cheap early refusal; the window is only updated once the tag checks out, so
      // forged frames cannot move it.
      if (this.#windows.get(prefix)?.seen(counter)) return this.#fail();
      const plain = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv, additionalData: bytes.subarray(0, 1), tagLength: TAG_BYTES * 8 },
        this.#key,
        bytes.subarray(1, ivAt),
      );
      // Checked again: a copy of this frame may have been accepted during the await.
      if (!this.#accept(prefix, counter)) return this.#fail();
      const out = new Uint8Array(1 + plain.byteLength);
      out[0] = bytes[0] as number;
      out.set(new Uint8Array(plain), 1);
      this.#decrypted++;
      return out.buffer;
    } catch {
      return this.#fail();
    }
  }

  #accept(prefix: number, counter: bigint): boolean {
    let window = this.#windows.get(prefix);
    if (window) {
      this.#windows.delete(prefix);
    } else {
      window = new ReplayWindow();
      // Only authenticated frames get here, so only the real sender restarting many
      // times can push a prefix out (whose old frames could then be replayed once).
      if (this.#windows.size >= MAX_PREFIXES) {
        const oldest = this.#windows.keys().next();
        if (!oldest.done) this.#windows.delete(oldest.value);
      }
    }
    this.#windows.set(prefix, window);
    return window.accept(counter);
  }

  #fail(): null {
    this.#failed++;
    return null;
  }
}

/** Encryptors (sending sessions) of one sender remembered for replay checks. */
const MAX_PREFIXES = 16;
/** 128 frames = 2.56 s of 20 ms Opus: more reordering than a live call ever keeps. */
const WINDOW = 128n;
const WINDOW_MASK = (1n << WINDOW) - 1n;

/**
 * The sliding window of IPsec and SRTP (RFC 4303 3.4.3): the highest counter accepted
 * and a bitmap of the WINDOW counters below it. Constant memory per encryptor, unlike a
 * set of seen IVs; a frame older than the window is refused (it is too late to play).
 */
class ReplayWindow {
  #highest = -1n;
  /** Bit i: counter `highest - i` was accepted. */
  #bits = 0n;

  seen(counter: bigint): boolean {
    if (this.#highest < 0n || counter > this.#highest) return false;
    const behind = this.#highest - counter;
    return behind >= WINDOW || (this.#bits & (1n << behind)) !== 0n;
  }

  accept(counter: bigint): boolean {
    if (this.seen(counter)) return false;
    if (this.#highest < 0n || counter > this.#highest) {
      const ahead = this.#highest < 0n ? WINDOW : counter - this.#highest;
      this.#bits = ahead >= WINDOW ? 1n : ((this.#bits << ahead) | 1n) & WINDOW_MASK;
      this.#highest = counter;
    } else {
      this.#bits |= 1n << (this.#highest - counter);
    }
    return true;
  }
}

function randomCounterStart(): bigint {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return ((BigInt(words[0] as number) & 0x7fff_ffffn) << 32n) | BigInt(words[1] as number);
}
