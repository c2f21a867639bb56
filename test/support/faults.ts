// Fault injection around real bindings: a D1 that fails chosen statements (batches fail whole,
// as D1 batches are transactions) and a queue that records or refuses messages.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../workers/index";
import { CRONS } from "../../workers/crons";
import { occurrenceAt } from "../../workers/scheduler/dispatch";

export type SqlFault = (sql: string) => boolean;

export const INJECTED_FAILURE = "D1_ERROR: injected storage failure";

class FaultyStatement {
  constructor(
    readonly real: D1PreparedStatement,
    readonly sql: string,
    private readonly fault: SqlFault,
    private readonly message: string,
  ) {}
  bind(...values: unknown[]) {
    return new FaultyStatement(this.real.bind(...values), this.sql, this.fault, this.message);
  }
  private check() {
    if (this.fault(this.sql)) throw new Error(this.message);
  }
  first(column?: string) {
    this.check();
    return column === undefined ? this.real.first() : this.real.first(column);
  }
  run() {
    this.check();
    return this.real.run();
  }
  all() {
    this.check();
    return this.real.all();
  }
  raw(options?: { columnNames?: boolean }) {
    this.check();
    return options?.columnNames ? this.real.raw({ columnNames: true }) : this.real.raw();
  }
}

/** `message`: what the failing driver says; real D1 messages can quote bound values. */
export function faultyD1(fault: SqlFault, message = INJECTED_FAILURE, real: D1Database = env.DB): D1Database {
  const fake = {
    prepare: (sql: string) => new FaultyStatement(real.prepare(sql), sql, fault, message),
    batch: async (statements: FaultyStatement[]) => {
      if (statements.some((statement) => fault(statement.sql))) throw new Error(message);
      return real.batch(statements.map((statement) => statement.real));
    },
    exec: (query: string) => real.exec(query),
    dump: () => real.dump(),
    withSession: () => {
      throw new Error("not used");
    },
  };
  // Only the members the Worker calls are implemented.
  return fake as unknown as D1Database;
}

/** The real D1, counting the batches it runs and listing every statement's SQL. */
export function countingD1(real: D1Database = env.DB) {
  const statements: string[] = [];
  const counts = { batches: 0 };
  const db = faultyD1((sql) => {
    statements.push(sql);
    return false;
  }, INJECTED_FAILURE, real);
  const batch = db.batch.bind(db);
  db.batch = (async (list: D1PreparedStatement[]) => {
    counts.batches += 1;
    return batch(list);
  }) as typeof db.batch;
  return { db, statements, counts };
}

export function recordingQueue(options: { fail?: boolean } = {}) {
  const sent: unknown[] = [];
  /** The options of each `send`, in order (delaySeconds). */
  const sendOptions: (QueueSendOptions | undefined)[] = [];
  const calls = { send: 0, sendBatch: 0 };
  const queue = {
    send: async (body: unknown, sendOptionsArgument?: QueueSendOptions) => {
      calls.send += 1;
      if (options.fail) throw new Error("Queue send failed: injected");
      sent.push(body);
      sendOptions.push(sendOptionsArgument);
    },
    sendBatch: async (messages: Iterable<MessageSendRequest>) => {
      calls.sendBatch += 1;
      if (options.fail) throw new Error("Queue sendBatch failed: injected");
      for (const message of messages) sent.push(message.body);
    },
  };
  return { sent, sendOptions, calls, queue: queue as unknown as Queue };
}

/** Calls the Worker's fetch handler with some bindings replaced (undefined unsets one). */
export async function fetchWith(overrides: Partial<Env>, url: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(url, init), { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/**
 * Runs one tick of the Worker's cron trigger at `scheduledTime`, with some bindings replaced:
 * every job due then runs. (The suites' BACKUP_SCHEDULE and RESTORE_TEST_SCHEDULE are "off", so
 * a tick runs a timed backup only where a test sets its schedule.)
 */
export async function tickWith(overrides: Partial<Env> = {}, scheduledTime = Date.now()): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: CRONS.tick, scheduledTime }), { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
}

/** The latest minute at or before `near` whose tick runs a job scheduled at `schedule`. */
export function tickTimeFor(schedule: string, near = Date.now()): number {
  for (let minute = Math.floor(near / 60_000) * 60_000; minute > near - 8 * 86_400_000; minute -= 60_000) {
    if (occurrenceAt(schedule, minute).due !== null) return minute;
  }
  throw new Error(`no tick within a week runs ${schedule}`);
}

/** Runs the intake sweep (it runs on every tick) at `scheduledTime`, with some bindings replaced. */
export const sweepWith = (overrides: Partial<Env>, scheduledTime = Date.now()) => tickWith(overrides, scheduledTime);

export const touches = (table: string, verb: "insert into" | "update") => (sql: string) =>
  sql.toLowerCase().startsWith(`${verb} "${table}"`);
