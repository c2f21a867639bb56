// The smoke test of a deployed Worker: GET /healthz (workers/http/health-routes.ts) answers 200
// "ok" when D1 answers and the queues are bound, 503 "degraded" otherwise, and lists every
// capability with the variables it lacks. A capability left unconfigured is not a failed deploy
// (it answers 503 naming its variable until someone sets it): it is printed with the command that
// sets what it lacks.
import { z } from "zod";

const checkSchema = z.object({ ok: z.boolean(), detail: z.string().optional() }).loose();
const capabilitySchema = z.object({ configured: z.boolean(), degraded: z.boolean().optional(), problems: z.array(z.string()).optional() }).loose();
/** The body of /healthz; scripts/dev.ts reads it too. */
export const healthSchema = z
  .object({
    status: z.string(),
    checks: z.record(z.string(), checkSchema),
    capabilities: z.record(z.string(), capabilitySchema),
  })
  .loose();
export type Health = z.infer<typeof healthSchema>;

export type SmokeOptions = {
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  /** Tries before giving up: a new version takes a few seconds to reach every location. */
  attempts: number;
  intervalMs: number;
  timeoutMs: number;
  log: (line: string) => void;
};

export type SmokeResult = { ok: true; health: Health } | { ok: false; reason: string };

/** GET <base>/healthz until it answers 200 "ok", at most `attempts` times. */
export async function smokeTest(base: string, options: SmokeOptions): Promise<SmokeResult> {
  const url = new URL("/healthz", base).toString();
  let result: SmokeResult = { ok: false, reason: "not tried" };
  for (let attempt = 1; attempt <= options.attempts; attempt += 1) {
    if (attempt > 1) await options.sleep(options.intervalMs);
    result = await probe(url, options);
    if (result.ok) return result;
    options.log(`  attempt ${attempt}/${options.attempts}: ${result.reason}`);
  }
  return result;
}

/** One request; why it failed names the status and the failing checks, never the body. */
async function probe(url: string, options: SmokeOptions): Promise<SmokeResult> {
  let response: Response;
  try {
    response = await options.fetch(url, { signal: AbortSignal.timeout(options.timeoutMs), headers: { accept: "application/json" } });
  } catch (error) {
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    return { ok: false, reason: timedOut ? `no answer within ${options.timeoutMs} ms` : "the request failed (no connection)" };
  }
  const parsed = healthSchema.safeParse(await response.json().catch(() => null));
  if (!parsed.success) return { ok: false, reason: `HTTP ${response.status} without the /healthz JSON` };
  if (response.status === 200 && parsed.data.status === "ok") return { ok: true, health: parsed.data };
  const failing = Object.entries(parsed.data.checks)
    .filter(([, check]) => !check.ok)
    .map(([name, check]) => `${name}${check.detail ? ` (${check.detail})` : ""}`)
    .join(", ");
  return { ok: false, reason: `HTTP ${response.status} "${parsed.data.status}"${failing ? `: failing ${failing}` : ""}` };
}

// ---------------------------------------------------------------------------------------------
// What each capability lacks

/**
 * Variables that are plain configuration, not secrets (docs/configuration.md, the "var" rows;
 * test/node/docs.test.ts keeps the two equal).
 * They belong under [env.<env>.vars] in wrangler.toml, which every deploy sets (and a value set
 * only in the dashboard is deleted by the next deploy). Any other name counts as a secret.
 */
export const PLAIN_VARIABLES: ReadonlySet<string> = new Set([
  "ACCESS_TEAM_DOMAIN",
  "ACCESS_AUD",
  "EDGE_ROUTES",
  "ROCKETCHAT_URL",
  "ROCKETCHAT_USER_ID",
  "ROCKETCHAT_SYNC_ROOMS",
  "ROCKETCHAT_SYNC_DIRECT_MESSAGES",
  "ROCKETCHAT_SYNC_SUBREQUESTS",
  "ROCKETCHAT_MESSAGE_LIMIT",
  "ROCKETCHAT_ALERT_ROOM",
  "BOT_ASK_TRIGGER",
  "BOT_GOOD_TRIGGER",
  "BOT_BAD_TRIGGER",
  "BOT_ANSWER_BUDGET_MS",
  "BOT_RATE_LIMIT",
  "BOT_ROOM_RATE_LIMIT",
  "BOT_LINK_HOSTS",
  "ROOM_VISIBILITY_TTL_SECONDS",
  "GROQ_MODEL",
  "GROQ_ANSWER_MODEL",
  "GROQ_BASE_URL",
  "SUMMARY_MIN_CHARS",
  "EMBEDDINGS_URL",
  "EMBEDDINGS_MODEL",
  "EMBEDDINGS_DIMENSIONS",
  "EMBEDDINGS_MAX_BATCH",
  "WORKERS_AI_EMBEDDING_MODEL",
  "QDRANT_URL",
  "QDRANT_COLLECTION",
  "SEARCH_MIN_SCORE",
  "HCLOUD_ENDPOINT",
  "RESTIC_REPOSITORY",
  "PUBLIC_BASE_URL",
  "BACKUP_SERVER_TYPE",
  "BACKUP_LOCATION",
  "BACKUP_IMAGE",
  "BACKUP_NETWORK_ID",
  "BACKUP_SSH_KEY",
  "BACKUP_DEADLINE_MINUTES",
  "BACKUP_HOST",
  "BACKUP_SCHEDULE",
  "RESTORE_TEST_SCHEDULE",
  "CLOUDFLARE_ACCOUNT_ID",
  "CLOUDFLARE_API_URL",
]);

/** The variables a /healthz problem line names: its leading NAME, or "A and B are not set". */
export function problemVariables(problem: string): string[] {
  const lead = /^([A-Z][A-Z0-9_]*)((?:(?:, | and )[A-Z][A-Z0-9_]*)*)(?=[: ]|$)/.exec(problem);
  if (!lead) return [];
  return [lead[1]!, ...(lead[2] ? lead[2].split(/, | and /).filter(Boolean) : [])];
}

/** How to set one variable in an environment: a secret through stdin, or a [vars] line. */
export function setVariableLine(name: string, env: string): string {
  return PLAIN_VARIABLES.has(name)
    ? `add ${name} = "…" under [env.${env}.vars] in wrangler.toml, then deploy again`
    : `npx wrangler secret put ${name} --env ${env}`;
}

/** Lines per capability: configured, or what is missing and the command that sets it. */
export function capabilityReport(health: Health, env: string): { lines: string[]; configured: number; total: number } {
  const lines: string[] = [];
  let configured = 0;
  const entries = Object.entries(health.capabilities);
  for (const [name, status] of entries) {
    const problems = status.problems ?? [];
    if (status.configured && !status.degraded) {
      configured += 1;
      lines.push(`  ✓ ${name}`);
      continue;
    }
    if (status.configured) configured += 1;
    lines.push(`  ${status.configured ? "!" : "✗"} ${name}${status.configured ? " (degraded)" : ""}: ${problems.join("; ") || "no reason given"}`);
    const variables = [...new Set(problems.flatMap(problemVariables))];
    for (const variable of variables) lines.push(`      ${setVariableLine(variable, env)}`);
  }
  return { lines, configured, total: entries.length };
}
