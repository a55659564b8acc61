/**
 * What this browser can do, checked before anything depends on it: a page that cannot
 * work says why up front instead of failing at Join, and controls the browser cannot
 * honour (speaker choice, per-person volume on iOS) are not offered.
 */

/** Why the page cannot make calls at all here. */
export type BrowserProblem = 'insecure' | 'no-webrtc' | 'no-e2ee';

export function browserProblem(): BrowserProblem | undefined {
  // Browsers hide the microphone (navigator.mediaDevices) from plain-http pages other than localhost.
  if (!window.isSecureContext) return 'insecure';
  // Old browsers, and the in-app browsers of some social and mail apps.
  if (typeof window.RTCPeerConnection !== 'function') return 'no-webrtc';
  if (typeof navigator.mediaDevices?.getUserMedia !== 'function') return 'no-webrtc';
  return undefined;
}

/** Output choice needs HTMLMediaElement.setSinkId (missing in Safari and on iOS). */
export const canPickSpeaker = 'setSinkId' in HTMLMediaElement.prototype;

/**
 * iOS ignores writes to a media element's `volume` (it always reads 1): a slider there
 * would move and change nothing. Detected by writing and reading back.
 */
export const canSetVolume = ((): boolean => {
  const probe = document.createElement('audio');
  probe.volume = 0.5;
  return probe.volume === 0.5;
})();
