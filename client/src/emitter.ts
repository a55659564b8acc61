/** A minimal typed event emitter for the app's own classes. */
type Handler = (...args: unknown[]) => void;

export class Emitter<Events extends Record<string, unknown[]>> {
  readonly #handlers = new Map<keyof Events, Set<Handler>>();

  /** Subscribes; the returned function unsubscribes. */
  on<K extends keyof Events>(event: K, handler: (...args: Events[K]) => void): () => void {
    let set = this.#handlers.get(event);
    if (!set) {
      set = new Set();
      this.#handlers.set(event, set);
    }
    const stored = handler as unknown as Handler;
    set.add(stored);
    return () => set.delete(stored);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const handler of this.#handlers.get(event) ?? []) {
      try {
        handler(...args);
      } catch (error) {
        // One broken listener must not stop the others (or the call logic).
        console.error(`listener for ${String(event)} failed`, error);
      }
    }
  }
}
