// Before `destroy --delete-volumes` deletes the data volumes: a backup of the environment that
// ended `done` in the last day, asked of the Worker that backs it up (backup.worker_url in the
// environment file) through its admin API, GET /api/backups/runs (newest first), with the
// Worker's ADMIN_TOKEN from INFRA_ADMIN_TOKEN. The Worker's runs are the record of what was saved
// (workers/backups/admin-routes.ts): Hetzner's labels only say a backup server existed.
import { z } from "zod";
import { describeNetworkError } from "./network-error.ts";

/** How recent the backup must be. */
export const BACKUP_MAX_AGE_MS = 24 * 3_600_000;

const runsSchema = z
  .object({
    items: z.array(
      z
        .object({
          id: z.string(),
          kind: z.string(),
          status: z.string(),
          createdAt: z.string(),
          finishedAt: z.string().nullable(),
        })
        .loose(),
    ),
  })
  .loose();
type Run = z.infer<typeof runsSchema>["items"][number];

export type BackupEvidence = { ok: true; run: Run; finishedAt: Date } | { ok: false; reason: string };

const hoursAgo = (now: Date, at: Date) => `${Math.max(0, Math.round((now.getTime() - at.getTime()) / 3_600_000))} h ago`;

/** The newest backup run that ended done within BACKUP_MAX_AGE_MS of `now`, or why there is none. */
export async function recentDoneBackup(options: { workerUrl: string; token: string; now: Date; fetcher?: typeof fetch }): Promise<BackupEvidence> {
  const url = `${options.workerUrl.replace(/\/+$/, "")}/api/backups/runs?limit=50`;
  let response: Response;
  try {
    response = await (options.fetcher ?? fetch)(url, { headers: { authorization: `Bearer ${options.token}`, accept: "application/json" }, signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    return { ok: false, reason: `the Worker's backups could not be read: ${describeNetworkError(url, error)}` };
  }
  if (response.status === 401 || response.status === 403) return { ok: false, reason: `the Worker at ${new URL(url).host} refused INFRA_ADMIN_TOKEN (HTTP ${response.status}): set it to the Worker's ADMIN_TOKEN` };
  if (!response.ok) return { ok: false, reason: `the Worker at ${new URL(url).host} answered HTTP ${response.status} for GET /api/backups/runs` };
  const parsed = runsSchema.safeParse(await response.json().catch(() => null));
  if (!parsed.success) return { ok: false, reason: `the Worker at ${new URL(url).host} answered GET /api/backups/runs with something that is no list of runs` };
  const backups = parsed.data.items.filter((run) => run.kind === "backup");
  const done = backups
    .filter((run) => run.status === "done" && run.finishedAt !== null && Number.isFinite(Date.parse(run.finishedAt)))
    .map((run) => ({ run, finishedAt: new Date(run.finishedAt!) }))
    .sort((a, b) => b.finishedAt.getTime() - a.finishedAt.getTime());
  const recent = done.find(({ finishedAt }) => options.now.getTime() - finishedAt.getTime() <= BACKUP_MAX_AGE_MS && finishedAt.getTime() <= options.now.getTime() + 60_000);
  if (recent) return { ok: true, ...recent };
  const newest = backups[0];
  const last = done[0] ? `the last one ending done was ${done[0].run.id}, ${hoursAgo(options.now, done[0].finishedAt)}` : "none ended done among the last 50 runs";
  const latest = newest ? `; the newest run, ${newest.id}, is ${newest.status}` : "";
  return { ok: false, reason: `no backup run ended done in the last 24 h (${last}${latest})` };
}
