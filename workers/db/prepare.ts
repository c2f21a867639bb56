import type { SQL } from "drizzle-orm";
import type { Database } from "./client";

/** A drizzle SQL object as a D1 statement, so hand-written and built statements share one batch. */
export function prepare(db: Database, statement: SQL): D1PreparedStatement {
  const query = db.all(statement).getQuery();
  return db.$client.prepare(query.sql).bind(...query.params);
}
