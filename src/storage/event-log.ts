/**
 * The durable event log: domain events appended to the `events` table, numbered by `seq`.
 *
 * A store appends its events with `appendEvents` inside the transaction that makes the change, so
 * an event is stored exactly when its change commits; the service then publishes the stored
 * events (with their `seq`) on the in-process EventBus. A process that reacts to the bus (serving)
 * remembers the last `seq` it saw and, after a restart, reads on from there with `EventLog.list`:
 * nothing is missed between the two.
 */
import type { Kysely, Transaction } from 'kysely';
import type { CairnEvent } from '../core/event-bus.js';
import type { Schema } from './schema.js';

/** An event as stored: its position in the log is `seq` (increasing, gaps possible). */
export interface StoredEvent extends CairnEvent {
  seq: number;
}

export interface EventQuery {
  /** Only events of these types (every type when empty). */
  types: string[];
  /** Only events with a greater sequence number. */
  after: number;
  limit: number;
}

/**
 * Appends events within `db` (a transaction, usually) in the order given; returns them with
 * their sequence numbers. One INSERT per event: multi-row RETURNING does not promise an order.
 */
export async function appendEvents(db: Kysely<Schema> | Transaction<Schema>, events: CairnEvent[]): Promise<StoredEvent[]> {
  const stored: StoredEvent[] = [];
  for (const e of events) {
    const { seq } = await db
      .insertInto('events')
      .values({ type: e.type, at: e.at, actor: e.actor, payload: JSON.stringify(e.payload) })
      .returning('seq')
      .executeTakeFirstOrThrow();
    stored.push({ type: e.type, at: e.at, actor: e.actor, payload: e.payload, seq: Number(seq) });
  }
  return stored;
}

/** Reads the event log, and appends to it outside a domain transaction. */
export class EventLog {
  constructor(private readonly db: Kysely<Schema>) {}

  /** Appends events in one transaction of their own. */
  append(events: CairnEvent[]): Promise<StoredEvent[]> {
    return this.db.transaction().execute((trx) => appendEvents(trx, events));
  }

  /** Up to `limit + 1` events after `after`, by sequence, so the caller can tell whether more follow. */
  async list(q: EventQuery): Promise<StoredEvent[]> {
    let query = this.db.selectFrom('events').selectAll().where('seq', '>', q.after).orderBy('seq').limit(q.limit + 1);
    if (q.types.length > 0) query = query.where('type', 'in', q.types);
    const rows = await query.execute();
    return rows.map((r) => ({ seq: Number(r.seq), type: r.type, at: r.at, actor: r.actor, payload: JSON.parse(r.payload) as Record<string, unknown> }));
  }
}
