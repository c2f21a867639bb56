// The runner's report (version 2, /work/backup-contract.md §4) and what a run ends as (§5).
// Whatever arrives is the run's last word: a body that is not JSON, or not a version-2 report
// (an older runner's shape, no parts), is kept as a note and ends the run `failed`, so the server
// is deleted at once instead of waiting for the deadline.
import { z } from "zod";
import type { BackupKind, BackupRunPart } from "../db/schema";
import { AppError } from "../http/errors";
import { readRawBody } from "../http/read-json-body";

/** A runner's one-line reason, as the contract limits it: one line, at most 200 characters. */
const oneLine = (max: number) =>
  z
    .string()
    .transform((text) => text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim().slice(0, max));

const partSchema = z
  .object({
    name: z.string().min(1).max(64),
    kind: z.string().min(1).max(16),
    ok: z.boolean(),
    reason: oneLine(200).nullable(),
    bytes: z.number().nonnegative(),
    seconds: z.number().nonnegative(),
  })
  .loose();

export const reportSchema = z
  .object({
    version: z.literal(2),
    parts: z.array(partSchema).max(100),
    restic: z
      .object({
        exit_code: z.number().int(),
        snapshot_id: z
          .string()
          .max(128)
          .nullable()
          .transform((id) => (id === "" ? null : id)),
        summary: z.record(z.string(), z.unknown()).nullable().default(null),
      })
      .loose(),
    forget: z.object({ exit_code: z.number().int() }).loose().nullable().default(null),
    restore_test: z.object({ check_exit_code: z.number().int(), canary_ok: z.boolean() }).loose().nullable().default(null),
    error: oneLine(200).nullable().default(null),
  })
  .loose();
export type RunnerReport = z.output<typeof reportSchema>;

/** What the Worker received: a version-2 report, or a note on what could not be read. */
export type ReportDelivery =
  | { readable: true; report: RunnerReport }
  | { readable: false; reason: string; stored: Record<string, unknown> };

const EXCERPT_CHARS = 200;

/** Reads the body as it came; never throws for what the runner sent. */
export async function readReport(request: Request): Promise<ReportDelivery> {
  let text: string;
  try {
    text = (await readRawBody(request)).text;
  } catch (error) {
    const reason = error instanceof AppError ? error.publicMessage : "the body could not be read";
    return { readable: false, reason, stored: { unreadable: reason } };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // A short note only: the text is whatever a broken runner wrote.
    const excerpt = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim().slice(0, EXCERPT_CHARS);
    return { readable: false, reason: "not JSON", stored: { unreadable: "not JSON", length: text.length, excerpt } };
  }
  const parsed = reportSchema.safeParse(body);
  if (parsed.success) return { readable: true, report: parsed.data };
  const issues = parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`);
  const reason = `not a version 2 report (${issues.join("; ")})`;
  const stored = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : { body };
  return { readable: false, reason, stored: { ...stored, unreadable: reason } };
}

export type ReportVerdict = {
  status: "done" | "partial" | "failed";
  parts: BackupRunPart[];
  /** What failed, by name: the parts, then "restic", "forget", "restore-test check", "restore-test canary". */
  failedParts: string[];
  /** The run's error line, null for `done`. */
  error: string | null;
  snapshotId: string | null;
  bytesAdded: number | null;
  exitCode: number | null;
  /** What is stored as the run's report. */
  stored: Record<string, unknown>;
};

/**
 * The contract's outcome: `failed` without a snapshot (snapshot id null or restic exit other
 * than 0/3), with a run-level error, or when no part saved anything; `partial` when a snapshot
 * exists but something failed (a part, restic exit 3, forget, the restore check or canary);
 * `done` only when everything succeeded.
 */
export function judgeReport(delivery: ReportDelivery, kind: BackupKind): ReportVerdict {
  if (!delivery.readable) {
    return { status: "failed", parts: [], failedParts: [], error: `the runner's report could not be read: ${delivery.reason}`, snapshotId: null, bytesAdded: null, exitCode: null, stored: delivery.stored };
  }
  const { report } = delivery;
  const parts: BackupRunPart[] = report.parts.map((part) => ({ name: part.name, kind: part.kind, ok: part.ok, reason: part.reason, bytes: part.bytes, seconds: part.seconds }));
  const failedParts = parts.filter((part) => !part.ok).map((part) => part.name);
  const exitCode = report.restic.exit_code;
  const snapshot = report.restic.snapshot_id !== null && (exitCode === 0 || exitCode === 3);
  if (exitCode === 3) failedParts.push("restic (some files could not be read)");
  else if (exitCode !== 0 || report.restic.snapshot_id === null) failedParts.push("restic");
  if (report.forget === null) {
    if (snapshot) failedParts.push("forget (not run)");
  } else if (report.forget.exit_code !== 0) failedParts.push("forget");
  if (kind === "restore-test") {
    if (report.restore_test === null) failedParts.push("restore-test (no result)");
    else {
      if (report.restore_test.check_exit_code !== 0) failedParts.push("restore-test check");
      if (!report.restore_test.canary_ok) failedParts.push("restore-test canary");
    }
  }
  const savedSomething = parts.some((part) => part.ok);
  const summary = report.restic.summary;
  const dataAdded = summary && typeof summary.data_added === "number" ? Math.round(summary.data_added) : null;
  const base = { parts, failedParts, snapshotId: report.restic.snapshot_id, bytesAdded: dataAdded, exitCode, stored: report as Record<string, unknown> };
  if (report.error !== null) return { ...base, status: "failed", error: `the runner failed: ${report.error}` };
  if (!snapshot) return { ...base, status: "failed", error: `no snapshot was saved (restic exit code ${exitCode})` };
  if (!savedSomething) return { ...base, status: "failed", error: parts.length === 0 ? "the report lists no parts: nothing was saved" : "no part was saved" };
  if (failedParts.length > 0) return { ...base, status: "partial", error: `some parts failed: ${failedParts.join(", ")}` };
  return { ...base, status: "done", error: null };
}
