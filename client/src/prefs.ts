/** Choices remembered between visits. localStorage may be unavailable (privacy modes): never throw. */
type PrefName = 'nickname' | 'micId' | 'speakerId';

const PREFIX = 'ghosttalk.';

export function loadPref(name: PrefName): string | undefined {
  try {
    return localStorage.getItem(PREFIX + name) ?? undefined;
  } catch {
    return undefined;
  }
}

export function savePref(name: PrefName, value: string): void {
  try {
    localStorage.setItem(PREFIX + name, value);
  } catch {
    // Not remembered; nothing else depends on it.
  }
}
