import { sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";

/**
 * `column IN (ids)` with the whole list as one bound parameter. D1 allows at most 100 bound
 * parameters per statement, and a queue batch alone names up to 100 events.
 */
export function inIdList(column: SQLiteColumn, ids: readonly (string | number)[]): SQL {
  return sql`${column} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;
}
