/**
 * An in-process publish/subscribe bus. Domains publish what happened (a feature version created,
 * later a model promoted) and others react without importing each other. Handlers run after the
 * publisher's write has committed; a failing handler is reported, never thrown back at the writer.
 */
export interface CairnEvent {
  type: string;
  at: string;
  actor: string;
  payload: Record<string, unknown>;
  /** Position in the durable event log (storage/event-log.ts) when the event was stored there. */
  seq?: number;
}

type Handler = (event: CairnEvent) => void | Promise<void>;

export class EventBus {
  private readonly handlers = new Map<string, Set<Handler>>();
  constructor(private readonly onHandlerError: (err: unknown, event: CairnEvent) => void = () => {}) {}

  /** Subscribes to one event type, or to all with '*'; returns the unsubscribe function. */
  on(type: string, handler: Handler): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  publish(event: CairnEvent): void {
    for (const key of [event.type, '*']) {
      for (const handler of this.handlers.get(key) ?? []) {
        try {
          const result = handler(event);
          if (result instanceof Promise) result.catch((err) => this.onHandlerError(err, event));
        } catch (err) {
          this.onHandlerError(err, event);
        }
      }
    }
  }
}
