import { writeFile } from 'node:fs/promises';

const SAMPLE_RATE = 48_000;

/**
 * A 16-bit mono 48 kHz PCM WAV of a sine tone whose loudness rises and falls
 * `syllablesHz` times a second, like speech. A steady tone is not enough: Chromium's
 * noise suppression (on in the app, as for real users) learns it as noise and removes
 * it within ~4 s (measured here); the pauses keep its noise estimate low, and the
 * spectrum keeps one clean peak (sidebands only ±4 Hz). Whole seconds of whole-Hz
 * tone and envelope loop without a click (Chromium loops the file).
 */
export function sineWav(
  frequencyHz: number,
  { seconds = 2, amplitude = 0.3, syllablesHz = 4 } = {},
): Buffer {
  const samples = SAMPLE_RATE * seconds;
  const dataBytes = samples * 2;
  const wav = Buffer.alloc(44 + dataBytes);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + dataBytes, 4);
  wav.write('WAVE', 8, 'ascii');
  wav.write('fmt ', 12, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(SAMPLE_RATE, 24);
  wav.writeUInt32LE(SAMPLE_RATE * 2, 28); // byte rate
  wav.writeUInt16LE(2, 32); // block align
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples; i++) {
    const t = i / SAMPLE_RATE;
    const envelope = syllablesHz > 0 ? 0.5 - 0.5 * Math.cos(2 * Math.PI * syllablesHz * t) : 1;
    const value = Math.round(
      amplitude * envelope * 32767 * Math.sin(2 * Math.PI * frequencyHz * t),
    );
    wav.writeInt16LE(value, 44 + i * 2);
  }
  return wav;
}

export async function writeSineWav(path: string, frequencyHz: number): Promise<string> {
  await writeFile(path, sineWav(frequencyHz));
  return path;
}
