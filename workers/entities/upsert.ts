// Turns an EntityChange into one guarded upsert. The guards live in SQL, inside the one
// statement, so concurrent deliveries for the same entity cannot interleave a read and a write.
//
// Ordering is per field: `field_order` keeps, for each column, the order key of the value
// stored there. A change writes a column only when its key is >= that column's key. So an
// older event never overwrites a newer value, yet it still fills a column that the newer
// events applied before it did not carry (lean Guesty v2 payloads omit what did not change).
import { and, exists, eq, getTableColumns, or, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import { webhookEvents } from "../db/schema";
import { DELETED_ORDER_KEY, entityTables, type EntityChange, type StoredEntity } from "./registry";

// Drizzle's builder types do not distribute over a union of tables; every entity table
// shares the bookkeeping columns the statement needs, so one of them stands for all.
type AnyEntityTable = (typeof entityTables)["call"];

/** `$."column_name"` as an SQL literal. Column names come from the schema, never from input. */
function jsonPath(column: SQLiteColumn): SQL {
  if (!/^[a-z][a-z0-9_]*$/.test(column.name)) throw new Error(`unexpected column name ${column.name}`);
  return sql.raw(`'$.${column.name}'`);
}

/**
 * `unlessEventDone`: the id of the event carrying this change. The update then applies only
 * while that event is still "received", so processing an event twice (a queue redelivery
 * racing the sweep) changes nothing the second time.
 */
export function upsertEntityStatement(db: Database, change: EntityChange, now: number, unlessEventDone?: string) {
  const table = entityTables[change.kind] as unknown as AnyEntityTable;
  const columns = getTableColumns(table) as Record<string, SQLiteColumn>;
  const written = Object.keys(change.fields)
    .filter((key) => key !== "id")
    .map((key) => {
      const column = columns[key];
      if (!column) throw new Error(`unknown column ${key} for ${change.kind}`);
      return { key, column };
    });

  const values: Record<string, unknown> = {
    ...change.fields,
    fieldOrder: Object.fromEntries(written.map(({ column }) => [column.name, change.orderKey])),
    orderKey: change.orderKey,
    updatedAt: now,
  };

  if (written.length === 0) {
    // Nothing but the id: create the bare row if it is new, otherwise there is nothing to apply.
    return db.insert(table).values(values as AnyEntityTable["$inferInsert"]).onConflictDoNothing({ target: table.id }).returning();
  }

  // Every written column carries the change's key, which `excluded.order_key` holds (for a
  // patch too: the row's own key is left alone below).
  const incomingKey = sql`excluded."order_key"`;
  const storedKey = (column: SQLiteColumn) => sql`coalesce(json_extract(${table.fieldOrder}, ${jsonPath(column)}), -1)`;
  const applies = (column: SQLiteColumn) => sql`${incomingKey} >= ${storedKey(column)}`;

  // SQLite evaluates every SET expression against the row as it was before the update.
  const set: Record<string, SQL> = {};
  for (const { key, column } of written) {
    set[key] = sql`CASE WHEN ${applies(column)} THEN excluded.${sql.identifier(column.name)} ELSE ${column} END`;
  }
  const keyUpdates = written.map(({ column }) => sql`${jsonPath(column)}, max(${storedKey(column)}, ${incomingKey})`);
  set.fieldOrder = sql`json_set(${table.fieldOrder}, ${sql.join(keyUpdates, sql`, `)})`;
  // A patch (AI output, say) is ordered on its own timeline; only snapshots move the row's key.
  set.orderKey = change.mode === "snapshot" ? sql`max(${table.orderKey}, excluded."order_key")` : sql`${table.orderKey}`;
  set.version = sql`${table.version} + 1`;
  set.updatedAt = sql`excluded."updated_at"`;

  const guards: SQL[] = [
    // A deletion is final at the source (ids are never reused): nothing but a deletion applies after it.
    sql`(${table.orderKey} < ${DELETED_ORDER_KEY} OR excluded."order_key" = ${DELETED_ORDER_KEY})`,
    // Skip the write (and the version bump) when every field is older than what is stored.
    or(...written.map(({ column }) => applies(column)))!,
  ];
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
    .onConflictDoUpdate({ target: table.id, set, setWhere: and(...guards) })
    .returning();
}

/** Pairs each statement's RETURNING rows with its change; a change that applied nothing returns none. */
export function storedEntities(changes: readonly EntityChange[], results: readonly unknown[][]): StoredEntity[] {
  return changes.flatMap((change, index) => {
    const row = results[index]?.[0];
    return row ? [{ kind: change.kind, row } as StoredEntity] : [];
  });
}
