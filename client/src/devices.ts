/** Microphones and speakers, with the browser's labels (only known after mic permission). */
export type DeviceChoice = { id: string; label: string };

export async function listDevices(): Promise<{ mics: DeviceChoice[]; speakers: DeviceChoice[] }> {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const pick = (kind: MediaDeviceKind, fallback: string) =>
    devices
      .filter((d) => d.kind === kind && d.deviceId !== '')
      .map((d, i) => ({ id: d.deviceId, label: d.label || `${fallback} ${i + 1}` }));
  return { mics: pick('audioinput', 'Microphone'), speakers: pick('audiooutput', 'Speaker') };
}

export function micConstraints(deviceId: string | undefined): MediaStreamConstraints {
  return {
    audio: {
      echoCancellation: true,
      noiseSuppression: true,
      autoGainControl: true,
      ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    },
  };
}

/** Opens the microphone; a remembered device that is gone falls back to the default one. */
export async function openMic(deviceId: string | undefined): Promise<MediaStreamTrack> {
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(micConstraints(deviceId));
  } catch (error) {
    if (!deviceId || !(error instanceof DOMException) || error.name !== 'OverconstrainedError') {
      throw error;
    }
    stream = await navigator.mediaDevices.getUserMedia(micConstraints(undefined));
  }
  const track = stream.getAudioTracks()[0];
  if (!track) throw new DOMException('No audio track', 'NotFoundError');
  return track;
}
