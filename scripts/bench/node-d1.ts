// A D1Database over node:sqlite (Node 22.5+; npm scripts run the pinned Node 24), so the Worker's
// own D1 code (drizzle, the D1 vector store) writes a local D1 file from Node: bench:search
// fills wrangler's local database with 100,000 chunks this way, then searches it through
// `wrangler dev`. Only what that code calls: prepare/bind/all/raw/first/run, batch (one
// transaction, as D1's) and exec. Values are bound and returned as D1 does (booleans as 0/1,
// BLOBs returned as arrays of bytes); `meta` carries changes and last_row_id, not rows read
// (node:sqlite does not count them: the Worker's counts come from D1 itself).
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";

type Row = Record<string, unknown>;

const bindable = (value: unknown): SQLInputValue => {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value === undefined) return null;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return value as SQLInputValue;
};
const returned = (value: unknown) => (value instanceof Uint8Array ? Array.from(value) : value);
const rowOf = (row: Row): Row => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, returned(value)]));
const meta = (changes = 0, lastRowId = 0) => ({ changes, last_row_id: lastRowId, duration: 0, rows_read: 0, rows_written: 0, changed_db: changes > 0, size_after: 0, served_by: "node:sqlite" });

class NodeStatement {
  constructor(
    private readonly db: DatabaseSync,
    readonly sql: string,
    private readonly values: SQLInputValue[] = [],
  ) {}
  bind(...values: unknown[]) {
    return new NodeStatement(this.db, this.sql, values.map(bindable));
  }
  private statement(): StatementSync {
    return this.db.prepare(this.sql);
  }
  async all<T = Row>() {
    const statement = this.statement();
    if (statement.columns().length === 0) {
      const { changes, lastInsertRowid } = statement.run(...this.values);
      return { results: [] as T[], success: true as const, meta: meta(Number(changes), Number(lastInsertRowid)) };
    }
    return { results: (statement.all(...this.values) as Row[]).map(rowOf) as T[], success: true as const, meta: meta() };
  }
  async run<T = Row>() {
    return this.all<T>();
  }
  async raw<T = unknown[]>(options?: { columnNames?: boolean }) {
    const statement = this.statement();
    statement.setReturnArrays(true);
    const rows = (statement.all(...this.values) as unknown as unknown[][]).map((row) => row.map(returned));
    return [...(options?.columnNames ? [statement.columns().map((column) => column.name)] : []), ...rows] as T[];
  }
  async first<T = Row>(column?: string) {
    const [row] = (await this.all<Row>()).results;
    if (!row) return null;
    return (column === undefined ? row : row[column]) as T;
  }
}

/** A D1Database (the members the Worker's code calls) over the SQLite file at `path`. */
export function nodeD1(path: string): { d1: D1Database; close: () => void; sqlite: DatabaseSync } {
  const sqlite = new DatabaseSync(path);
  const d1 = {
    prepare: (sql: string) => new NodeStatement(sqlite, sql),
    batch: async (statements: NodeStatement[]) => {
      sqlite.exec("BEGIN");
      try {
        const results = [];
        for (const statement of statements) results.push(await statement.all());
        sqlite.exec("COMMIT");
        return results;
      } catch (error) {
        sqlite.exec("ROLLBACK");
        throw error;
      }
    },
    exec: async (query: string) => {
      sqlite.exec(query);
      return { count: 1, duration: 0 };
    },
  };
  return { d1: d1 as unknown as D1Database, close: () => sqlite.close(), sqlite };
}
