// Consumer of the vectorize queue: up to 100 document ids a batch, indexed together (one load,
// as few embedder calls as it allows, one store call, one mark). A message is acknowledged once
// its document's units are written (or need nothing). When the batch fails, only the messages
// whose units fail are retried, with exponential backoff: the batch is halved until the failure
// is isolated (workers/vectorize/vectorize-documents.ts, vectorizeIsolating), and the others are
// acknowledged at the first delivery. A provider's rate limit retries every message not yet
// indexed after the delay it asked for. After the queue's last retry a message goes to the
// dead-letter queue, whose consumer records it. The summarizer fails nothing but a rate limit:
// without it the documents are indexed without summaries (the summary backlog;
// workers/vectorize/summaries.ts).
import { openDatabase, type Database } from "../workers/db/client";
import { raiseAlert } from "../workers/alerts/raise";
import { failureReason, logError, logInfo } from "../workers/log";
import { vectorizeProviders, type VectorizeProviders } from "../workers/vectorize/providers";
import { vectorizeIsolating, type VectorizeStats } from "../workers/vectorize/vectorize-documents";
import { queueDelaySeconds, retryDelaySeconds } from "./retry-delay";
import { vectorizeMessageSchema } from "./vectorize-message";

export async function consumeVectorizeBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = openDatabase(env.DB);
  let providers: VectorizeProviders;
  try {
    providers = await vectorizeProviders(env, db);
  } catch (error) {
    // A half-configured provider: retrying after the fix indexes everything; nothing is lost.
    await raiseAlert(env, "vectorizing failed", { reason: failureReason(error), messages: batch.messages.length });
    for (const message of batch.messages) message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    return;
  }
  await vectorizeBatch(batch, db, providers);
}

type Entry = { message: Message<unknown>; documentId: string; force: boolean };

/** The batch with the given providers (tests count their calls or make them fail). */
export async function vectorizeBatch(batch: MessageBatch<unknown>, db: Database, providers: VectorizeProviders): Promise<void> {
  const valid: Entry[] = [];
  for (const message of batch.messages) {
    const parsed = vectorizeMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      // Retrying cannot fix it; the catch-up sweep finds any document left stale.
      logError("malformed vectorize message", { queue: batch.queue, messageId: message.id, alert: true });
      message.ack();
      continue;
    }
    valid.push({ message, documentId: parsed.data.documentId, force: parsed.data.force === true });
  }
  if (valid.length === 0) return;

  const started = Date.now();
  const stats: VectorizeStats[] = [];
  const settled = new Set<Entry>();
  let retried = 0;
  const retry = (entries: readonly Entry[], error: unknown, requestedDelay: number | null) => {
    for (const entry of entries) {
      if (settled.has(entry)) continue;
      settled.add(entry);
      retried += 1;
      const delaySeconds = queueDelaySeconds(requestedDelay ?? retryDelaySeconds(entry.message.attempts));
      logError("vectorizing failed", { documentId: entry.documentId, attempts: entry.message.attempts, delaySeconds, reason: failureReason(error), alert: false });
      entry.message.retry({ delaySeconds });
    }
  };
  const ack = (entries: readonly Entry[]) => {
    for (const entry of entries) {
      if (settled.has(entry)) continue;
      settled.add(entry);
      entry.message.ack();
    }
  };
  const byDocument = (entries: readonly Entry[], ids: readonly string[]) => {
    const wanted = new Set(ids);
    return entries.filter((entry) => wanted.has(entry.documentId));
  };

  // Forced messages (an operator's revectorize, the summary backlog) rebuild even what looks current.
  for (const entries of [valid.filter((entry) => !entry.force), valid.filter((entry) => entry.force)]) {
    if (entries.length === 0) continue;
    try {
      const outcome = await vectorizeIsolating(db, providers, entries.map((entry) => entry.documentId), { force: entries[0]!.force });
      stats.push(outcome.stats);
      ack(byDocument(entries, outcome.done));
      for (const failure of outcome.failed) retry(byDocument(entries, failure.ids), failure.error, null);
      if (outcome.rateLimited) {
        // Nobody's fault: every message not indexed yet, forced ones too, waits as long as the provider asked.
        const { error, retryAfterSeconds } = outcome.rateLimited;
        retry(valid, error, retryAfterSeconds);
        break;
      }
    } catch (error) {
      // The documents could not be loaded (D1): all of these wait.
      retry(entries, error, null);
    }
  }
  // Defensive: a message none of the above settled is retried now rather than left to the batch's end.
  retry(valid, new Error("not settled"), null);

  const sum = (key: keyof VectorizeStats) => stats.reduce((total, entry) => total + entry[key], 0);
  logInfo("vectorize batch", {
    queue: batch.queue,
    messages: valid.length,
    documents: sum("documents"),
    missing: sum("missing"),
    units: sum("units"),
    unchanged: sum("unchanged"),
    chunks: sum("chunks"),
    embedCalls: sum("embedCalls"),
    storeCalls: sum("storeCalls"),
    failedAttempts: sum("failedAttempts"),
    retried,
    summarized: sum("summarized"),
    summaryCacheHits: sum("summaryCacheHits"),
    summariesMissing: sum("summariesMissing"),
    model: providers.embedder.model,
    durationMs: Date.now() - started,
  });
}
