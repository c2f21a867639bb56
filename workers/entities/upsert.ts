// Turns an EntityChange into one guarded upsert. The guard lives in SQL so concurrent
// deliveries for the same entity cannot interleave a read and a write.
import { and, eq, exists, getTableColumns, sql, type SQL } from "drizzle-orm";
import type { Database } from "../db/client";
import { webhookEvents } from "../db/schema";
import { entityTables, type EntityChange, type StoredEntity } from "./registry";

// Drizzle's builder types do not distribute over a union of tables; every entity table
// shares the bookkeeping columns the statement needs, so one of them stands for all.
type AnyEntityTable = (typeof entityTables)["call"];

/**
 * `unlessEventDone`: the id of the event carrying this change. The update then applies only
 * while that event is still "received", so a redelivery of a finished event changes nothing
 * even when it rides in the same batch as the event insert.
 */
export function upsertEntityStatement(db: Database, change: EntityChange, now: number, unlessEventDone?: string) {
  const table = entityTables[change.kind] as unknown as AnyEntityTable;
  const columns = getTableColumns(table) as Record<string, { name: string }>;
  const values: Record<string, unknown> = { ...change.fields, updatedAt: now };
  if (change.mode === "snapshot") values.orderKey = change.orderKey;

  const set: Record<string, SQL> = { version: sql`${table.version} + 1` };
  for (const key of Object.keys(values)) {
    if (key === "id") continue;
    const column = columns[key];
    if (!column) throw new Error(`unknown column ${key} for ${change.kind}`);
    set[key] = sql.raw(`excluded."${column.name}"`);
  }

  const guards: SQL[] = [];
  if (change.mode === "snapshot") guards.push(sql`excluded."order_key" >= ${table.orderKey}`);
  if (unlessEventDone) {
    const receiving = db
      .select({ id: webhookEvents.id })
      .from(webhookEvents)
      .where(and(eq(webhookEvents.id, unlessEventDone), eq(webhookEvents.status, "received")));
    guards.push(exists(receiving));
  }

  return db
    .insert(table)
    .values(values as AnyEntityTable["$inferInsert"])
    .onConflictDoUpdate({ target: table.id, set, ...(guards.length > 0 ? { setWhere: and(...guards) } : {}) })
    .returning();
}

/** Pairs each statement's RETURNING rows with its change; a skipped (older) snapshot returns none. */
export function storedEntities(changes: readonly EntityChange[], results: readonly unknown[][]): StoredEntity[] {
  return changes.flatMap((change, index) => {
    const row = results[index]?.[0];
    return row ? [{ kind: change.kind, row } as StoredEntity] : [];
  });
}
