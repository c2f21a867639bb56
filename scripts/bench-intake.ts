// `npm run bench:intake`: starts the Worker with `wrangler dev` on a fresh temporary local D1,
// and beside it a no-op Worker (scripts/bench/noop-worker.js) on the same wrangler/workerd.
// Sends the same N webhooks (Aircall call lifecycles and contacts, signed Guesty guests and
// reservations; a fraction DUP are exact redeliveries) at concurrency C to each, prints both
// throughputs, their ratio (target >= 0.5) and latencies, waits until the intake queue has
// processed every event, then checks through the admin API that the stored events are
// exactly the unique events sent, each answered duplicate:false exactly once.
//
//   npm run bench:intake                                  N=2000 C=16 DUP=0.1, free port
//   N=500 C=4 npm run bench:intake
//   npm run bench:intake -- --n 500 --c 4 --dup 0.2 --port 8790 --timeout 120 --seed 42
//
// Flags win over environment variables. Exit status: 0 PASS, 1 FAIL or error, 124 timeout.
import { createHash, createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import { join } from "node:path";
import { prng } from "./bench/prng.ts";
import { createWranglerRun, freePort, root, sleep, type CaughtError, type WranglerProcess } from "./bench/wrangler-run.ts";
import { readBenchOptions } from "./bench/options.ts";
import { percentile } from "./bench/percentile.ts";

// ---------------------------------------------------------------- options

const USAGE = `usage: npm run bench:intake [-- --n N --c C --dup DUP --port PORT --timeout SECONDS --seed SEED]
  N        requests to send (default 2000)
  C        concurrent requests (default 16)
  DUP      fraction of requests that are exact redeliveries of earlier ones (default 0.1)
  PORT     port for wrangler dev (default: a free port)
  TIMEOUT  total time limit in seconds, start-up and checks included (default 300)
  RATIO    the least acceptable throughput of ours / the no-op Worker's (default 0.5)
  SEED     seed of the generated traffic (default: random)
Each may also be given as an environment variable of that name.
Diagnostics: BENCH_LOG_LEVEL=log BENCH_TRACE="intake batch" prints the Worker's log lines that
contain that text (here: events and milliseconds per intake batch).`;

type Options = {
  n: number;
  c: number;
  dup: number;
  port: number;
  timeoutMs: number;
  minRatio: number;
  seed: number;
};

function readOptions(argv: readonly string[]): Options {
  const { number } = readBenchOptions(argv, { usage: USAGE, values: ["N", "C", "DUP", "PORT", "TIMEOUT", "SEED", "RATIO"] });
  const positiveInt = (value: number) => Number.isInteger(value) && value > 0;
  return {
    n: number("N", 2000, positiveInt, "a positive integer"),
    c: number("C", 16, positiveInt, "a positive integer"),
    dup: number("DUP", 0.1, (value) => value >= 0 && value < 1, "a fraction in [0, 1)"),
    port: number("PORT", 0, (value) => Number.isInteger(value) && value > 0 && value < 65536, "a port number"),
    timeoutMs: number("TIMEOUT", 300, (value) => value > 0, "a number of seconds") * 1000,
    minRatio: number("RATIO", 0.5, (value) => value >= 0, "a non-negative number"),
    seed: number("SEED", randomBytes(4).readUInt32LE(0), (value) => Number.isInteger(value) && value >= 0, "a non-negative integer"),
  };
}

const options = readOptions(process.argv.slice(2));

// Bench-only credentials, valid for config.ts: token >= 8 chars, whsec_<base64>, admin >= 16 chars.
const aircallToken = `bench-${randomBytes(12).toString("hex")}`;
const guestySecret = `whsec_${randomBytes(32).toString("base64")}`;
const guestyKey = Buffer.from(guestySecret.slice("whsec_".length), "base64");
const adminToken = randomBytes(24).toString("hex");

// ---------------------------------------------------------------- traffic

/** One webhook delivery as generated, before its idempotency key is known. */
type UnkeyedDelivery = { source: "aircall"; body: string } | { source: "guesty"; messageId: string; body: string };

/** One webhook delivery: its exact body (and Svix id), and the key intake stores it under. */
type Delivery = UnkeyedDelivery & {
  key: string;
  /** Warm-up only: send a wrong Svix signature, so the delivery is rejected and stores nothing. */
  forgeSignature?: boolean;
};

type Agent = { id: number; name: string; email: string };
type Line = { id: number; name: string; digits: string };
type Tag = { id: number; name: string };

/** An Aircall call whose lifecycle webhooks are not all generated yet. */
type OpenCall = {
  id: number;
  direction: "inbound" | "outbound";
  stages: string[];
  startedAt: number;
  answeredAt: number | null;
  endedAt: number | null;
  rawDigits: string;
  user: Agent;
  number: Line;
  tags: Tag[];
};

type Counts = { call: number; contact: number; guest: number; reservation: number };

function createGenerator(seed: number): { next: () => Delivery; random: () => number; counts: Counts } {
  const random = prng(seed);
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const hex = (length: number) => Array.from({ length }, () => "0123456789abcdef"[int(0, 15)]).join("");
  const alnum = (length: number) =>
    Array.from({ length }, () => "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[int(0, 61)]).join("");
  const digits = (length: number) => Array.from({ length }, () => int(0, 9)).join("");

  const FIRST = ["Ana", "Ben", "Chloé", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kenji", "Lena", "Marta", "Noah"];
  const LAST = ["Almeida", "Brown", "Chen", "Dubois", "Eriksen", "Fischer", "García", "Hughes", "Ivanova", "Jensen", "Khan", "Lopez"];
  const AGENTS: Agent[] = [
    { id: 812001, name: "Sofia Reyes", email: "sofia@example.com" },
    { id: 812002, name: "Tom Becker", email: "tom@example.com" },
    { id: 812003, name: "Yuki Sato", email: "yuki@example.com" },
  ];
  const LINES: Line[] = [
    { id: 640101, name: "Front desk", digits: "+44 20 7946 0100" },
    { id: 640102, name: "Owners line", digits: "+33 1 84 88 02 00" },
  ];
  const TAGS: Tag[] = [
    { id: 3301, name: "maintenance" },
    { id: 3302, name: "check-in" },
    { id: 3303, name: "billing" },
  ];
  const LISTINGS = Array.from({ length: 25 }, () => hex(24));
  const SOURCES = ["airbnb2", "bookingCom", "homeaway2", "direct", "manual"];

  let clock = Math.floor(Date.now() / 1000) - 86_400; // Aircall timestamps: seconds, one day ago onwards
  let nextCallId = 1_900_000_000;
  let nextContactId = 700_000_000;
  const openCalls: OpenCall[] = [];
  const guestIds: string[] = [];
  const counts: Counts = { call: 0, contact: 0, guest: 0, reservation: 0 };

  const phone = () => `+${pick(["44", "33", "49", "34", "1"])} ${digits(3)} ${digits(3)} ${digits(4)}`;
  const person = () => ({ first: pick(FIRST), last: pick(LAST) });
  const aircall = (resource: string, event: string, data: unknown): UnkeyedDelivery => ({
    source: "aircall",
    body: JSON.stringify({ resource, event, timestamp: clock, token: aircallToken, data }),
  });
  const guesty = (body: unknown): UnkeyedDelivery => ({ source: "guesty", messageId: `msg_${alnum(27)}`, body: JSON.stringify(body) });

  // One Aircall call goes through created -> answered -> ended (-> tagged), or created -> ended
  // when missed; each stage is its own webhook, interleaved with other calls' stages.
  function callEvent(): UnkeyedDelivery {
    if (openCalls.length === 0 || (openCalls.length < 12 && random() < 0.3)) {
      const answered = random() < 0.8;
      openCalls.push({
        id: nextCallId++,
        direction: random() < 0.7 ? "inbound" : "outbound",
        stages: answered ? ["call.created", "call.answered", "call.ended", ...(random() < 0.5 ? ["call.tagged"] : [])] : ["call.created", "call.ended"],
        startedAt: clock,
        answeredAt: null,
        endedAt: null,
        rawDigits: phone(),
        user: pick(AGENTS),
        number: pick(LINES),
        tags: [],
      });
    }
    const index = Math.floor(random() * openCalls.length);
    const call = openCalls[index]!;
    const event = call.stages.shift()!;
    if (event === "call.answered") call.answeredAt = clock;
    if (event === "call.ended") call.endedAt = clock;
    if (event === "call.tagged") call.tags = [pick(TAGS)];
    if (call.stages.length === 0) openCalls.splice(index, 1);
    const status = event === "call.created" ? "initial" : event === "call.answered" ? "answered" : "done";
    return aircall("call", event, {
      id: call.id,
      direct_link: `https://api.aircall.io/v1/calls/${call.id}`,
      direction: call.direction,
      status,
      missed_call_reason: status === "done" && call.answeredAt === null ? "no_available_agent" : null,
      started_at: call.startedAt,
      answered_at: call.answeredAt,
      ended_at: call.endedAt,
      duration: call.endedAt === null ? 0 : call.endedAt - call.startedAt,
      raw_digits: call.rawDigits,
      user: call.user,
      number: call.number,
      tags: call.tags,
      comments: [],
    });
  }

  function contactEvent(): UnkeyedDelivery {
    const { first, last } = person();
    const id = nextContactId++;
    return aircall("contact", "contact.created", {
      id,
      direct_link: `https://api.aircall.io/v1/contacts/${id}`,
      first_name: first,
      last_name: last,
      company_name: random() < 0.2 ? `${last} Property Services` : null,
      information: random() < 0.3 ? "Owner of two listings" : null,
      is_shared: true,
      created_at: clock,
      updated_at: clock,
      emails: [{ id: id * 10 + 1, label: "Work", value: `${first}.${last}.${id}@example.com`.toLowerCase() }],
      phone_numbers: [{ id: id * 10 + 2, label: "Mobile", value: phone() }],
    });
  }

  function guestEvent(): UnkeyedDelivery {
    const { first, last } = person();
    const id = hex(24);
    guestIds.push(id);
    return guesty({
      event: "guest.created",
      guest: {
        _id: id,
        fullName: `${first} ${last}`,
        firstName: first,
        lastName: last,
        emails: [`${first}.${last}.${id.slice(-6)}@example.com`.toLowerCase()],
        phones: [phone()],
      },
      by: "host@example.com",
    });
  }

  function reservationEvent(): UnkeyedDelivery {
    const checkIn = new Date(Date.UTC(2026, 0, 1) + int(0, 364) * 86_400_000 + 15 * 3_600_000);
    const nights = int(1, 14);
    const checkOut = new Date(checkIn.getTime() + nights * 86_400_000 - 5 * 3_600_000);
    return guesty({
      event: "reservation.new",
      reservation: {
        _id: hex(24),
        confirmationCode: `GY-${alnum(8).toUpperCase()}`,
        status: pick(["confirmed", "confirmed", "confirmed", "inquiry", "reserved"]),
        checkIn: checkIn.toISOString(),
        checkOut: checkOut.toISOString(),
        listingId: pick(LISTINGS),
        guestId: guestIds.length > 0 && random() < 0.8 ? pick(guestIds) : hex(24),
        lastUpdatedAt: new Date(clock * 1000).toISOString(),
        guestsCount: int(1, 6),
        nightsCount: nights,
        source: pick(SOURCES),
      },
    });
  }

  /** The next unique delivery: about 50% call events, 15% contacts, 15% guests, 20% reservations. */
  function next(): Delivery {
    clock += int(1, 3);
    const roll = random();
    const [kind, make]: [keyof Counts, () => UnkeyedDelivery] =
      roll < 0.5 ? ["call", callEvent] : roll < 0.65 ? ["contact", contactEvent] : roll < 0.8 ? ["guest", guestEvent] : ["reservation", reservationEvent];
    counts[kind] += 1;
    const delivery = make();
    const key =
      delivery.source === "guesty"
        ? `guesty_${delivery.messageId}`
        : `aircall_${createHash("sha256").update(aircallStoredPayload(delivery.body)).digest("hex")}`;
    return Object.assign(delivery, { key });
  }

  return { next, random, counts };
}

// What intake stores and keys an Aircall delivery on: the body without its token.
function aircallStoredPayload(body: string): string {
  const { token: _token, ...withoutToken } = JSON.parse(body) as Record<string, unknown>;
  return JSON.stringify(withoutToken);
}

/** N requests: N - round(N * DUP) unique deliveries, the rest exact re-sends of earlier ones. */
function buildPlan({ n, dup, seed }: Pick<Options, "n" | "dup" | "seed">) {
  const generator = createGenerator(seed);
  const redeliveries = Math.min(n - 1, Math.round(n * dup));
  // Choose which slots are redeliveries (never slot 0: a re-send needs an earlier original).
  const slots = Array.from({ length: n - 1 }, (_, i) => i + 1);
  for (let i = 0; i < redeliveries; i += 1) {
    const j = i + Math.floor(generator.random() * (slots.length - i));
    [slots[i], slots[j]] = [slots[j]!, slots[i]!];
  }
  const isRedelivery = new Set(slots.slice(0, redeliveries));
  const uniques: Delivery[] = [];
  const plan: Delivery[] = [];
  for (let i = 0; i < n; i += 1) {
    if (isRedelivery.has(i)) plan.push(uniques[Math.floor(generator.random() * uniques.length)]!);
    else {
      const delivery = generator.next();
      uniques.push(delivery);
      plan.push(delivery);
    }
  }
  if (new Set(uniques.map((delivery) => delivery.key)).size !== uniques.length) throw new Error("generated two identical events");
  return { plan, uniques, redeliveries, redeliverySlots: isRedelivery, counts: generator.counts };
}

/** Request init for one attempt. Guesty attempts are signed at send time, as Svix does. */
function requestInit(delivery: Delivery, signal: AbortSignal): RequestInit {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (delivery.source === "guesty") {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac("sha256", guestyKey).update(`${delivery.messageId}.${timestamp}.${delivery.body}`).digest("base64");
    headers["svix-id"] = delivery.messageId;
    headers["svix-timestamp"] = timestamp;
    headers["svix-signature"] = delivery.forgeSignature ? "v1,AAAA" : `v1,${signature}`;
  }
  return { method: "POST", headers, body: delivery.body, signal };
}

// ---------------------------------------------------------------- processes and cleanup

const run = createWranglerRun({ name: "bench-intake", timeoutMs: options.timeoutMs });
const { abort, persistDir, applyMigrations, startWranglerDev, waitForHealth } = run;

// ---------------------------------------------------------------- steps

/** The no-op baseline: every path answers like intake, after reading the body. */
async function startNoop(port: number): Promise<{ base: string; dev: WranglerProcess }> {
  const { dev, exited } = await startWranglerDev(port, ["--config", join(root, "scripts", "bench", "noop.wrangler.toml")]);
  const base = `http://127.0.0.1:${port}`;
  await waitForHealth(base, "/", dev, exited);
  return { base, dev };
}

async function startDev(port: number): Promise<{ base: string; dev: WranglerProcess }> {
  const vars = { AIRCALL_WEBHOOK_TOKENS: aircallToken, GUESTY_WEBHOOK_SECRETS: guestySecret, ADMIN_TOKEN: adminToken };
  const { dev, exited: exitedOf } = await startWranglerDev(port, [
    "--persist-to", persistDir,
    ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ]);

  const base = `http://127.0.0.1:${port}`;
  await waitForHealth(base, "/healthz", dev, exitedOf);
  // Make sure the answer came from this instance (another server could hold PORT) on an empty D1.
  const probe = await fetch(`${base}/api/events?limit=1`, { headers: { authorization: `Bearer ${adminToken}` }, signal: abort.signal });
  const text = await probe.text();
  let items: unknown;
  try {
    ({ items } = JSON.parse(text) as { items?: unknown });
  } catch {
    // not JSON: not this Worker
  }
  if (probe.status !== 200 || !Array.isArray(items) || items.length !== 0) {
    throw new Error(`${base} is not the fresh bench instance (GET /api/events: ${probe.status} ${text.slice(0, 200)}); is PORT in use?`);
  }
  return { base, dev };
}

/** The answer to one request: 200 with the reported duplicate flag and id, another status, or a network error. */
type Answer = { status: number | string; text: string; duplicate?: boolean; idMatches?: boolean };

/** One request's answer, with the delivery's key and when it was sent and answered. */
type Result = Answer & { key: string; redelivery: boolean; sentAt: number; doneAt: number; latencyMs: number };

async function send(
  base: string,
  plan: readonly Delivery[],
  isRedelivery: (index: number) => boolean,
  concurrency: number,
): Promise<{ results: Result[]; elapsedMs: number }> {
  const results = new Array<Result>(plan.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < plan.length && !abort.signal.aborted) {
      const index = next++;
      const delivery = plan[index]!;
      const init = requestInit(delivery, abort.signal);
      const sentAt = performance.now();
      let result: Answer;
      try {
        const response = await fetch(`${base}/webhooks/${delivery.source}`, init);
        const text = await response.text();
        result = { status: response.status, text };
        if (response.status === 200) {
          const body = JSON.parse(text) as { duplicate?: unknown; id?: unknown };
          result.duplicate = body.duplicate === true;
          result.idMatches = body.id === delivery.key;
        }
      } catch (error) {
        if (abort.signal.aborted) return;
        const caught = error as CaughtError;
        result = { status: `network error (${caught.cause?.code ?? caught.name})`, text: String(caught.cause?.message ?? caught.message) };
      }
      const doneAt = performance.now();
      results[index] = { ...result, key: delivery.key, redelivery: isRedelivery(index), sentAt, doneAt, latencyMs: doneAt - sentAt };
    }
  }
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, plan.length) }, worker));
  return { results, elapsedMs: performance.now() - started };
}

/** Polls until no stored event is "received" (the intake queue has processed everything). */
/** A page of GET /api/events (the fields read here). */
type EventPage = { items: { id: string; source: string; status: string }[]; nextCursor: string | null };

async function waitProcessed(base: string): Promise<void> {
  const until = Date.now() + 120_000;
  for (;;) {
    const response = await fetch(`${base}/api/events?status=received&limit=1`, { headers: { authorization: `Bearer ${adminToken}` }, signal: abort.signal });
    if (response.status !== 200) throw new Error(`GET /api/events answered ${response.status}`);
    if (((await response.json()) as EventPage).items.length === 0) return;
    if (Date.now() > until) throw new Error("events still received 120 s after the last answer");
    await sleep(20);
  }
}

async function storedEvents(base: string): Promise<EventPage["items"]> {
  const items: EventPage["items"] = [];
  let cursor: string | null = null;
  do {
    const url = `${base}/api/events?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const response = await fetch(url, { headers: { authorization: `Bearer ${adminToken}` }, signal: abort.signal });
    if (response.status !== 200) throw new Error(`GET /api/events answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    const page = (await response.json()) as EventPage;
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}


function tally<T>(values: readonly T[]): string {
  const counts = new Map<T, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([value, count]) => `${value} ${count}`).join(", ");
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const { n, c, dup, seed } = options;
  const wranglerVersion = (JSON.parse(readFileSync(join(root, "node_modules", "wrangler", "package.json"), "utf8")) as { version: string }).version;
  console.log(`bench: N=${n} C=${c} DUP=${dup} SEED=${seed}; local D1 in ${persistDir}`);

  let t = performance.now();
  await applyMigrations();
  const port = options.port || (await freePort());
  const [{ base, dev }, noop] = await Promise.all([startDev(port), freePort().then(startNoop)]);
  console.log(`bench: migrations applied, wrangler dev ready on ${base} and the no-op Worker on ${noop.base} in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const { plan, uniques, redeliveries, redeliverySlots, counts } = buildPlan(options);
  console.log(`bench: sending ${n} requests to each (${uniques.length} unique: ${Object.entries(counts).map(([kind, count]) => `${count} ${kind}`).join(", ")}; ${redeliveries} redeliveries)`);
  // Both warm up first (ours on deliveries with a wrong token, which store nothing). Then the
  // baseline runs before and after ours, one at a time so nothing competes for the cores, and
  // ours is compared with the mean of the two baseline runs, so drift in the machine's speed
  // during the run counts against neither side.
  const warmup = plan.slice(0, Math.min(200, plan.length));
  await send(noop.base, warmup, () => false, c);
  await send(base, warmup.map((delivery) => (delivery.source === "aircall" ? { ...delivery, body: delivery.body.replace(aircallToken, "warm-up-wrong-token") } : { ...delivery, messageId: `warmup_${delivery.messageId}`, forgeSignature: true })), () => false, c);
  const baselineBefore = await send(noop.base, plan, () => false, c);
  const { results, elapsedMs } = await send(base, plan, (index) => redeliverySlots.has(index), c);
  const baselineAfter = await send(noop.base, plan, () => false, c);
  const baseline = {
    results: [...baselineBefore.results, ...baselineAfter.results],
    elapsedMs: (baselineBefore.elapsedMs + baselineAfter.elapsedMs) / 2,
  };
  console.log(`bench: no-op ${(n / (baseline.elapsedMs / 1000)).toFixed(1)} requests/s, ours ${(n / (elapsedMs / 1000)).toFixed(1)} events/s; waiting for processing`);
  t = performance.now();
  await waitProcessed(base);
  const drainMs = performance.now() - t;

  // Answers.
  const failures = results.filter((result) => result.status !== 200);
  const ok = results.filter((result) => result.status === 200);
  const wrongIds = ok.filter((result) => !result.idMatches).length;
  const reportedDuplicates = ok.filter((result) => result.duplicate).length;
  // A delivery sent after an earlier delivery of the same event was answered 200 must be reported
  // as a duplicate; one sent while the original was still in flight may or may not be.
  const firstDone = new Map<string, number>();
  for (const result of ok) firstDone.set(result.key, Math.min(firstDone.get(result.key) ?? Infinity, result.doneAt));
  const afterOriginal = ok.filter((result) => result.sentAt > firstDone.get(result.key)!);
  const inFlight = ok.filter((result) => result.redelivery && result.sentAt <= firstDone.get(result.key)!).length;
  const missedDuplicates = afterOriginal.filter((result) => !result.duplicate).length;
  const newAnswers = new Map<string, number>();
  for (const result of ok) if (!result.duplicate) newAnswers.set(result.key, (newAnswers.get(result.key) ?? 0) + 1);
  const notOnceNew = uniques.filter((delivery) => newAnswers.get(delivery.key) !== 1).length;

  // Stored events.
  t = performance.now();
  const items = await storedEvents(base);
  const listMs = performance.now() - t;
  const storedIds = new Set(items.map((item) => item.id));
  const expected = new Set(uniques.map((delivery) => delivery.key));
  const missing = [...expected].filter((id) => !storedIds.has(id)).length;
  const unexpected = [...storedIds].filter((id) => !expected.has(id)).length;
  const repeatedInListing = items.length - storedIds.size;

  const latencies = results.map((result) => result.latencyMs).sort((a, b) => a - b);
  const baselineLatencies = baseline.results.map((result) => result.latencyMs).sort((a, b) => a - b);
  const baselineFailures = baseline.results.filter((result) => result.status !== 200).length;
  const throughput = n / (elapsedMs / 1000);
  const baselineThroughput = n / (baseline.elapsedMs / 1000);
  const ratio = throughput / baselineThroughput;
  const unfinished = items.filter((item) => item.status !== "processed").length;
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const checks: [name: string, passed: boolean, detail: string][] = [
    ["every answer 200", failures.length === 0, `${failures.length} non-200`],
    ["answer ids are the idempotency keys", wrongIds === 0, `${wrongIds} differ`],
    ["stored events == unique events sent", items.length === uniques.length, `${items.length} stored, ${uniques.length} sent`],
    ["stored ids == ids sent", missing === 0 && unexpected === 0 && repeatedInListing === 0, `${missing} missing, ${unexpected} unexpected, ${repeatedInListing} listed twice`],
    ["redeliveries after a 200 reported duplicate", missedDuplicates === 0, `${missedDuplicates} of ${afterOriginal.length} not`],
    ["each event answered duplicate:false exactly once", notOnceNew === 0, `${notOnceNew} not exactly once`],
    ["every stored event processed", unfinished === 0, `${unfinished} not processed`],
    ["the no-op Worker answered every request 200", baselineFailures === 0, `${baselineFailures} non-200`],
    [`throughput >= ${options.minRatio} of the no-op Worker's`, ratio >= options.minRatio, `ratio ${ratio.toFixed(2)}`],
  ];
  const pass = checks.every(([, passed]) => passed);

  if (failures.length > 0) {
    console.error(`bench: non-200 answers: ${tally(failures.map((result) => result.status))}`);
    for (const result of failures.slice(0, 5)) console.error(`  ${result.status}: ${result.text.slice(0, 200)}`);
  }
  for (const [name, passed, detail] of checks) if (!passed) console.error(`bench: FAILED check "${name}": ${detail}`);
  if (!pass) console.error(`wrangler dev output (tail):\n${dev.tail() || "(empty)"}`);

  const cpu = cpus();
  const summary = [
    "```",
    `npm run bench:intake  (N=${n} C=${c} DUP=${dup} SEED=${seed})`,
    `machine     ${cpu[0]?.model ?? "unknown CPU"}, ${cpu.length} cores, ${platform()} ${release()}, node ${process.version}, wrangler ${wranglerVersion}`,
    `throughput  ${throughput.toFixed(1)} events/s (${n} requests in ${(elapsedMs / 1000).toFixed(2)} s)`,
    `no-op       ${baselineThroughput.toFixed(1)} requests/s; p50 ${ms(percentile(baselineLatencies, 50))}  p99 ${ms(percentile(baselineLatencies, 99))}`,
    `ratio       ${ratio.toFixed(2)} of the no-op Worker's throughput (target >= ${options.minRatio})`,
    `latency     p50 ${ms(percentile(latencies, 50))}  p90 ${ms(percentile(latencies, 90))}  p99 ${ms(percentile(latencies, 99))}  max ${ms(latencies.at(-1)!)}`,
    `processing  every event processed ${ms(drainMs)} after the last answer (intake queue consumer)`,
    `sent        ${uniques.length} unique events + ${redeliveries} redeliveries (${inFlight} of them while the original was in flight)`,
    `server      ${ok.length} x 200, ${failures.length} other; ${reportedDuplicates} reported duplicate:true`,
    `stored      ${items.length} events (expected ${uniques.length}); status: ${tally(items.map((item) => `${item.source}/${item.status}`))}; listed in ${ms(listMs)}`,
    `result      ${pass ? "PASS" : "FAIL"}`,
    "```",
  ];
  console.log(summary.join("\n"));
  return pass ? 0 : 1;
}

void run.finish(main);
