// `npm run send-samples -- [--url http://127.0.0.1:8787] [--dev-vars <file>]`
//
// Sends a signed sample of every webhook the Worker takes to a running Worker (`npm run dev`)
// and prints what happened to each: Aircall (its body token), Guesty (a Standard Webhooks/Svix
// signature, then the same delivery again, which must be a duplicate), Rocket.Chat ingest, and a
// question to the Rocket.Chat bot (its reply). With ADMIN_TOKEN it then reads each stored event
// back through the admin API until it is processed. Each run sends new ids, so nothing but the
// redelivery is a duplicate.
//
// The secrets come from the environment when set there, else from .dev.vars, which is what
// `npm run dev` gives the Worker. Nothing here prints a secret.
//
// Exit codes: 0 every sample accepted, 1 one was not (or the Worker could not be reached), 2 usage.
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, parseEnv } from "node:util";
import { z } from "zod";
import { processIo, runIfEntryPoint, type Io } from "../infra/cli-io.ts";
import { signStandardWebhook } from "../test/support/sign-guesty.ts";

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_URL = "http://127.0.0.1:8787";
const REQUEST_TIMEOUT_MS = 30_000;
const PROCESSING_WAIT_MS = 15_000;

const USAGE = `usage: npm run send-samples -- [--url <base URL>] [--dev-vars <file>]

Sends a signed sample of every webhook to a running Worker and prints what happened to each:
  aircall      POST /webhooks/aircall      call.ended with its body token    AIRCALL_WEBHOOK_TOKENS
  guesty       POST /webhooks/guesty       reservation.new, Svix-signed       GUESTY_WEBHOOK_SECRETS
               (and the same delivery again: answered as a duplicate)
  rocketchat   POST /webhooks/rocketchat   a chat message                     ROCKETCHAT_INGEST_TOKEN
  bot          POST /rocketchat/bot        an !ask question; prints the reply ROCKETCHAT_BOT_TOKEN
With ADMIN_TOKEN, each stored event is then read back (GET /api/events/<id>) until processed.

  --url       the Worker (default ${DEFAULT_URL}, where \`npm run dev\` serves)
  --dev-vars  where to read secrets the environment does not set (default .dev.vars, as \`npm run dev\`)

Secrets: the first entry of each (comma-separated lists are rotations); never printed.
Exit status: 0 every sample accepted, 1 otherwise, 2 usage error.`;

const SECRET_NAMES = ["AIRCALL_WEBHOOK_TOKENS", "GUESTY_WEBHOOK_SECRETS", "ROCKETCHAT_INGEST_TOKEN", "ROCKETCHAT_BOT_TOKEN", "ADMIN_TOKEN"] as const;
type SecretName = (typeof SECRET_NAMES)[number];
type Secrets = Partial<Record<SecretName, string>>;

/** Each secret from the environment when set there, else from the env file; and where each came from. */
function loadSecrets(env: NodeJS.ProcessEnv, devVarsPath: string): { secrets: Secrets; sources: Map<string, SecretName[]> } {
  // node:util parseEnv reads .dev.vars as wrangler does (dotenv rules, quoted multi-line values);
  // infra/env-file.ts is line-based and would refuse a multi-line BACKUP_SSH_PRIVATE_KEY.
  const file = existsSync(devVarsPath) ? parseEnv(readFileSync(devVarsPath, "utf8")) : {};
  const fileLabel = relative(process.cwd(), devVarsPath) || devVarsPath;
  const secrets: Secrets = {};
  const sources = new Map<string, SecretName[]>();
  for (const name of SECRET_NAMES) {
    const [value, source] = env[name] ? [env[name], "the environment"] : file[name] ? [file[name], fileLabel] : [undefined, "nowhere"];
    // The first entry of a rotation list: the one the Worker accepts first.
    const first = value?.split(",")[0]?.trim();
    if (first) secrets[name] = first;
    sources.set(source, [...(sources.get(source) ?? []), name]);
  }
  return { secrets, sources };
}

// --- the samples: small, realistic bodies our zod payload schemas take (workers/intake/*/payloads.ts) ---

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
/** A Rocket.Chat-style id: 17 alphanumerics. */
const rocketChatId = () => randomBytes(16).toString("base64").replace(/[^A-Za-z0-9]/g, "").padEnd(17, "x").slice(0, 17);

function samples(now: Date) {
  const seconds = Math.floor(now.getTime() / 1000);
  const run = hex(3);
  const channelId = `GENERAL${run}`.slice(0, 17);
  return {
    aircall: (token: string) => ({
      resource: "call",
      event: "call.ended",
      timestamp: seconds,
      token,
      data: {
        // A new call per run: Aircall's events carry no id, so the body is the event's key.
        id: randomInt(100_000_000, 1_000_000_000),
        direction: "inbound",
        status: "done",
        started_at: seconds - 185,
        answered_at: seconds - 180,
        ended_at: seconds - 5,
        duration: 180,
        raw_digits: "+351 912 345 678",
        user: { id: 731416, name: "Ana Agent", email: "ana@example.com" },
        number: { id: 397375, name: "Front desk", digits: "+351 21 000 0000" },
        contact: { id: 5501, first_name: "Maria", last_name: "Santos" },
        tags: [{ id: 11, name: "check-in" }],
        comments: [{ id: 9001, content: "Guest arriving late for Casa Azul, around 23:00.", posted_by: { id: 731416, name: "Ana Agent" }, posted_at: seconds }],
      },
    }),
    guesty: {
      id: `msg_${hex(12)}`,
      body: {
        event: "reservation.new",
        reservation: {
          _id: hex(12),
          confirmationCode: `HM${run.toUpperCase()}`,
          status: "confirmed",
          checkIn: "2026-12-20T15:00:00.000Z",
          checkOut: "2026-12-27T10:00:00.000Z",
          checkInDateLocalized: "2026-12-20",
          checkOutDateLocalized: "2026-12-27",
          nightsCount: 7,
          guestsCount: 2,
          listingId: "listing-casa-azul",
          listing: { title: "Casa Azul, Lisbon" },
          guestId: "guest-maria-santos",
          guest: { fullName: "Maria Santos" },
          source: "airbnb2",
          lastUpdatedAt: now.toISOString(),
        },
      },
    },
    rocketchat: (token: string) => ({
      token,
      bot: false,
      channel_id: channelId,
      channel_name: "front-desk",
      message_id: rocketChatId(),
      timestamp: now.toISOString(),
      user_id: "rYhzFRd2QZjNwAAXX",
      user_name: "ana",
      text: "Maria Santos arrives at Casa Azul around 23:00 tonight: the key is in the lockbox by the door.",
      siteUrl: "https://chat.example.com",
    }),
    bot: (token: string) => ({
      token,
      bot: false,
      trigger_word: "!ask",
      channel_id: channelId,
      channel_name: "front-desk",
      message_id: rocketChatId(),
      timestamp: now.toISOString(),
      user_id: "sTaffUser00000001",
      user_name: "rui",
      text: "!ask when does Maria Santos arrive at Casa Azul?",
    }),
  };
}

// --- sending and reporting ---

const intakeAnswerSchema = z.union([
  z.object({ id: z.string(), duplicate: z.boolean() }),
  z.object({ skipped: z.string() }),
]);
const botAnswerSchema = z.union([z.object({ text: z.string(), tmid: z.string().optional() }), z.object({ ignored: z.string() })]);
const errorSchema = z.object({ error: z.string() });
const eventSchema = z.object({ id: z.string(), status: z.string(), error: z.string().nullable().optional() });
const searchSchema = z.object({ hits: z.array(z.object({ documentId: z.string(), text: z.string() })) });

type Outcome = { label: string; what: string; ok: boolean; line: string; storedId?: string };

class Unreachable extends Error {}

async function post(base: string, path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
  let response: Response;
  try {
    response = await fetch(new URL(path, base), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Unreachable(`cannot reach ${base} (${cause?.code ?? cause?.message ?? (error as Error).name}): is \`npm run dev\` running there?`);
  }
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: reported by status only
  }
  return { status: response.status, json };
}

function intakeOutcome(label: string, what: string, answer: { status: number; json: unknown }): Outcome {
  const parsed = answer.status === 200 ? intakeAnswerSchema.safeParse(answer.json) : undefined;
  if (parsed?.success && "id" in parsed.data) {
    const { id, duplicate } = parsed.data;
    return { label, what, ok: true, line: `${answer.status}  ${duplicate ? "duplicate of" : "stored as"} ${id}`, storedId: duplicate ? undefined : id };
  }
  if (parsed?.success && "skipped" in parsed.data) return { label, what, ok: false, line: `${answer.status}  not stored: ${parsed.data.skipped}` };
  return { label, what, ok: false, line: `${answer.status}  ${errorSchema.safeParse(answer.json).data?.error ?? "unexpected answer"}` };
}

const missing = (label: string, what: string, name: SecretName): Outcome => ({ label, what, ok: false, line: `not sent: ${name} is not set` });

/** Each stored event's status once it is no longer "received" (or after the wait), through the admin API. */
async function processingStatuses(base: string, adminToken: string, ids: readonly string[], io: Io): Promise<void> {
  const pending = new Set(ids);
  const until = Date.now() + PROCESSING_WAIT_MS;
  const last = new Map<string, string>();
  while (pending.size > 0) {
    for (const id of [...pending]) {
      const response = await fetch(new URL(`/api/events/${encodeURIComponent(id)}`, base), {
        headers: { authorization: `Bearer ${adminToken}` },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }).catch(() => null);
      if (!response || response.status !== 200) {
        const why = response ? `${response.status} ${errorSchema.safeParse(await response.json().catch(() => null)).data?.error ?? ""}`.trim() : "no answer";
        io.out(`  ${"processed".padEnd(11)}  not checked: GET /api/events/<id> answered ${why}`);
        return;
      }
      const event = eventSchema.safeParse(await response.json());
      const status = event.success ? event.data.status : "unreadable";
      last.set(id, event.success && event.data.error ? `${status} (${event.data.error})` : status);
      if (status !== "received") pending.delete(id);
    }
    if (pending.size === 0 || Date.now() > until) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const notProcessed = ids.filter((id) => last.get(id) !== "processed");
  io.out(`  ${"processed".padEnd(11)}  ${ids.length - notProcessed.length} of ${ids.length} stored events (GET /api/events/<id>)`);
  for (const id of notProcessed) io.out(`  ${"".padEnd(11)}  ${id}: ${last.get(id) ?? "unknown"}${pending.has(id) ? ` after ${PROCESSING_WAIT_MS / 1000} s` : ""}`);
}

/** Waits until search finds the sample reservation (by its confirmation code), so the bot can too. */
async function waitIndexed(base: string, adminToken: string, confirmationCode: string, io: Io): Promise<void> {
  const until = Date.now() + PROCESSING_WAIT_MS;
  for (;;) {
    const response = await fetch(new URL("/api/search", base), {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ query: `reservation ${confirmationCode} Maria Santos Casa Azul`, k: 5, minScore: "off", filter: { entityType: "reservation" } }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    }).catch(() => null);
    const found = response?.status === 200 ? searchSchema.safeParse(await response.json()).data?.hits.find((hit) => hit.text.includes(confirmationCode)) : undefined;
    if (found) {
      io.out(`  ${"indexed".padEnd(11)}  ${found.documentId}: search finds the reservation`);
      return;
    }
    if (!response || response.status !== 200 || Date.now() > until) {
      io.out(`  ${"indexed".padEnd(11)}  not yet${response && response.status !== 200 ? ` (search answered ${response.status})` : ""}: the bot may not know the reservation`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = processIo): Promise<number> {
  let values: { url?: string; "dev-vars"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { url: { type: "string" }, "dev-vars": { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (error) {
    io.err(`send-samples: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const base = values.url ?? DEFAULT_URL;
  if (!URL.canParse(base) || !/^https?:$/.test(new URL(base).protocol)) {
    io.err(`send-samples: --url must be an http(s) URL\n${USAGE}`);
    return 2;
  }
  const { secrets, sources } = loadSecrets(env, values["dev-vars"] ? resolve(values["dev-vars"]) : join(repositoryRoot, ".dev.vars"));
  io.out(`send-samples: to ${base}`);
  for (const [source, names] of sources) io.out(`  secrets from ${source}: ${names.join(", ")}`);

  const sample = samples(new Date());
  const outcomes: Outcome[] = [];
  const report = (outcome: Outcome) => {
    outcomes.push(outcome);
    io.out(`  ${outcome.label.padEnd(11)}  ${outcome.what.padEnd(16)}  ${outcome.line}`);
  };
  try {
    const aircallToken = secrets.AIRCALL_WEBHOOK_TOKENS;
    report(
      aircallToken
        ? intakeOutcome("aircall", "call.ended", await post(base, "/webhooks/aircall", JSON.stringify(sample.aircall(aircallToken))))
        : missing("aircall", "call.ended", "AIRCALL_WEBHOOK_TOKENS"),
    );

    const guestySecret = secrets.GUESTY_WEBHOOK_SECRETS;
    if (guestySecret) {
      const raw = JSON.stringify(sample.guesty.body);
      const timestamp = Math.floor(Date.now() / 1000);
      let signature: string | undefined;
      try {
        signature = await signStandardWebhook(guestySecret, sample.guesty.id, timestamp, raw);
      } catch {
        report({ label: "guesty", what: "reservation.new", ok: false, line: "not sent: GUESTY_WEBHOOK_SECRETS is not a whsec_<base64> secret" });
      }
      if (signature) {
        const headers = { "svix-id": sample.guesty.id, "svix-timestamp": String(timestamp), "svix-signature": signature };
        report(intakeOutcome("guesty", "reservation.new", await post(base, "/webhooks/guesty", raw, headers)));
        // Svix retries a delivery with the same id: stored once.
        const again = intakeOutcome("guesty", "redelivery", await post(base, "/webhooks/guesty", raw, headers));
        report({ ...again, ok: again.ok && again.line.includes("duplicate of") });
      }
    } else {
      report(missing("guesty", "reservation.new", "GUESTY_WEBHOOK_SECRETS"));
    }

    const ingestToken = secrets.ROCKETCHAT_INGEST_TOKEN;
    report(
      ingestToken
        ? intakeOutcome("rocketchat", "message", await post(base, "/webhooks/rocketchat", JSON.stringify(sample.rocketchat(ingestToken))))
        : missing("rocketchat", "message", "ROCKETCHAT_INGEST_TOKEN"),
    );

    const stored = outcomes.flatMap((outcome) => (outcome.storedId ? [outcome.storedId] : []));
    if (stored.length > 0 && secrets.ADMIN_TOKEN) {
      await processingStatuses(base, secrets.ADMIN_TOKEN, stored, io);
      if (stored.some((id) => id.startsWith("guesty_"))) await waitIndexed(base, secrets.ADMIN_TOKEN, sample.guesty.body.reservation.confirmationCode, io);
    } else if (stored.length > 0) {
      io.out(`  ${"processed".padEnd(11)}  not checked: ADMIN_TOKEN is not set`);
    }

    const botToken = secrets.ROCKETCHAT_BOT_TOKEN;
    if (botToken) {
      const answer = await post(base, "/rocketchat/bot", JSON.stringify(sample.bot(botToken)));
      const parsed = answer.status === 200 ? botAnswerSchema.safeParse(answer.json) : undefined;
      if (parsed?.success && "text" in parsed.data) {
        report({ label: "bot", what: "!ask", ok: true, line: `${answer.status}  replied:` });
        for (const line of parsed.data.text.split("\n")) io.out(line.trim() ? `      ${line}` : "");
      } else if (parsed?.success && "ignored" in parsed.data) {
        report({ label: "bot", what: "!ask", ok: false, line: `${answer.status}  ignored: ${parsed.data.ignored}` });
      } else {
        report({ label: "bot", what: "!ask", ok: false, line: `${answer.status}  ${errorSchema.safeParse(answer.json).data?.error ?? "unexpected answer"}` });
      }
    } else {
      report(missing("bot", "!ask", "ROCKETCHAT_BOT_TOKEN"));
    }
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    io.err(`send-samples: ${error.message}`);
    return 1;
  }

  const refused = outcomes.filter((outcome) => !outcome.ok).length;
  io.out(refused === 0 ? `send-samples: all ${outcomes.length} accepted` : `send-samples: ${refused} of ${outcomes.length} not accepted`);
  return refused === 0 ? 0 : 1;
}

await runIfEntryPoint(import.meta.url, main);
