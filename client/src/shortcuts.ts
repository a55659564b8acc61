/** Keyboard control of the microphone: M toggles mute, holding Space talks while muted. */
export type ShortcutTarget = {
  isMuted(): boolean;
  setMuted(muted: boolean): void;
};

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  // Range sliders take arrow keys only, so shortcuts stay usable on them.
  return target instanceof HTMLInputElement && target.type !== 'range';
}

/** Installs the shortcuts; the returned function removes them. */
export function installShortcuts(target: ShortcutTarget): () => void {
  let talking = false;

  const stopTalking = () => {
    if (!talking) return;
    talking = false;
    target.setMuted(true);
  };

  const onKeyDown = (event: KeyboardEvent) => {
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (event.code === 'KeyM' && !event.repeat) {
      event.preventDefault();
      stopTalking();
      target.setMuted(!target.isMuted());
    } else if (event.code === 'Space') {
      // Also stops Space from "clicking" a focused button or scrolling the page.
      event.preventDefault();
      if (!event.repeat && target.isMuted()) {
        talking = true;
        target.setMuted(false);
      }
    }
  };
  const onKeyUp = (event: KeyboardEvent) => {
    if (event.code !== 'Space' || isTyping(event.target)) return;
    event.preventDefault();
    stopTalking();
  };

  window.addEventListener('keydown', onKeyDown);
  window.addEventListener('keyup', onKeyUp);
  // Releasing Space in another window would otherwise leave the mic open.
  window.addEventListener('blur', stopTalking);
  return () => {
    window.removeEventListener('keydown', onKeyDown);
    window.removeEventListener('keyup', onKeyUp);
    window.removeEventListener('blur', stopTalking);
  };
}
