// Consumer of the vectorize queue: up to 100 document ids a batch, indexed together (one load,
// as few embedder calls as it allows, one store call, one mark). A message is acknowledged only
// once its document's vectors are written; on failure every message of the batch is retried
// with exponential backoff, or after the delay a rate-limited provider asked for. After the
// queue's last retry the message goes to the dead-letter queue, whose consumer records it.
// A summarizer model Groq no longer serves fails nothing: the documents are indexed without
// summaries (one alert, the summary backlog; workers/vectorize/summaries.ts).
import { openDatabase, type Database } from "../workers/db/client";
import { failureReason, logError, logInfo } from "../workers/log";
import { requestedRetryDelay } from "../workers/http/provider-errors";
import { vectorizeProviders, type VectorizeProviders } from "../workers/vectorize/providers";
import { vectorizeDocuments, type VectorizeStats } from "../workers/vectorize/vectorize-documents";
import { queueDelaySeconds, retryDelaySeconds } from "./retry-delay";
import { vectorizeMessageSchema } from "./vectorize-message";


export async function consumeVectorizeBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = openDatabase(env.DB);
  let providers: VectorizeProviders;
  try {
    providers = await vectorizeProviders(env, db);
  } catch (error) {
    // A half-configured provider: retrying after the fix indexes everything; nothing is lost.
    logError("vectorizing failed", { reason: failureReason(error), messages: batch.messages.length, alert: true });
    for (const message of batch.messages) message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    return;
  }
  await vectorizeBatch(batch, db, providers);
}

/** The batch with the given providers (tests count their calls or make them fail). */
export async function vectorizeBatch(batch: MessageBatch<unknown>, db: Database, providers: VectorizeProviders): Promise<void> {
  const valid: { message: Message<unknown>; documentId: string; force: boolean }[] = [];
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
  const forced = valid.filter((entry) => entry.force).map((entry) => entry.documentId);
  const regular = valid.filter((entry) => !entry.force).map((entry) => entry.documentId);
  try {
    const stats: VectorizeStats[] = [];
    if (regular.length > 0) stats.push(await vectorizeDocuments(db, providers, regular));
    if (forced.length > 0) stats.push(await vectorizeDocuments(db, providers, forced, { force: true }));
    for (const { message } of valid) message.ack();
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
      summarized: sum("summarized"),
      summaryCacheHits: sum("summaryCacheHits"),
      summariesMissing: sum("summariesMissing"),
      model: providers.embedder.model,
      durationMs: Date.now() - started,
    });
  } catch (error) {
    const requested = requestedRetryDelay(error);
    for (const { message, documentId } of valid) {
      const delaySeconds = queueDelaySeconds(requested ?? retryDelaySeconds(message.attempts));
      logError("vectorizing failed", { documentId, attempts: message.attempts, delaySeconds, reason: failureReason(error), alert: false });
      message.retry({ delaySeconds });
    }
  }
}
