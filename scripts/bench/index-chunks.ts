// The pipeline's own steps, in Node, for records that arrive once each: the webhooks of a record
// (corpus-webhooks.ts) normalized as intake normalizes them, merged into entity rows, turned
// into documents (workers/documents/build-text.ts), grouped into index units (threads, windows;
// workers/vectorize/index-units.ts) and chunked (workers/vectorize/chunker.ts). What the
// vectorize consumer would write for them, without a Worker: bench:search indexes 100,000
// chunks in seconds this way. No summaries (the embedded defaults have no Groq).
import { getTableColumns, is, SQL } from "drizzle-orm";
import type { EventSource } from "../../workers/db/schema.ts";
import { documentFor } from "../../workers/documents/build-text.ts";
import { entityTables, type EntityChange, type EntityKind, type StoredEntity } from "../../workers/entities/registry.ts";
import { normalizeEvent } from "../../workers/intake/normalize-event.ts";
import { ROCKETCHAT_EVENT_TYPES } from "../../workers/intake/rocketchat/payloads.ts";
import { chunkDocument } from "../../workers/vectorize/chunker.ts";
import { chunkPayloadOf, indexUnits, type LoadedDocument } from "../../workers/vectorize/index-units.ts";
import type { ChunkPayload } from "../../workers/vectorize/vector-store.ts";
import { webhooksOf } from "./corpus-webhooks.ts";
import type { CorpusRecord } from "./search-questions.ts";

export type UnitChunks = { documentId: string; chunks: (ChunkPayload & { chunkIndex: number })[] };

/** An entity row as D1 would hold it before any field is written: column defaults, else null. */
function emptyRow(kind: EntityKind): Record<string, unknown> {
  const row: Record<string, unknown> = { version: 1 };
  for (const [name, column] of Object.entries(getTableColumns(entityTables[kind]))) {
    if (name === "version") continue;
    const fallback = column.default;
    // SQL defaults in this schema are JSON lists ('[]').
    row[name] = is(fallback, SQL) ? (column.dataType === "json" ? [] : null) : (fallback ?? null);
  }
  return row;
}

/** Every change of the records' webhooks, merged per entity in order (a late field overwrites). */
function entitiesOf(records: readonly CorpusRecord[]): StoredEntity[] {
  const rows = new Map<string, { kind: EntityKind; row: Record<string, unknown>; orderKey: number }>();
  for (const record of records) {
    for (const hook of webhooksOf(record)) {
      const body = JSON.parse(hook.body) as Record<string, unknown>;
      const source = hook.path.slice("/webhooks/".length) as EventSource;
      const type = source === "rocketchat" ? ROCKETCHAT_EVENT_TYPES.message : String(body.event);
      const normalized = normalizeEvent(source, type, body, Date.now());
      if (normalized.status !== "processed") throw new Error(`${record.key}: ${normalized.status === "failed" ? normalized.error : "ignored"}`);
      for (const change of normalized.changes as EntityChange[]) {
        const key = `${change.kind}:${String(change.fields.id)}`;
        const entry = rows.get(key) ?? { kind: change.kind, row: emptyRow(change.kind), orderKey: 0 };
        if (change.mode === "patch" || change.orderKey >= entry.orderKey) Object.assign(entry.row, change.fields);
        if (change.mode === "snapshot") entry.orderKey = Math.max(entry.orderKey, change.orderKey);
        rows.set(key, entry);
      }
    }
  }
  return [...rows.values()].map(({ kind, row }) => ({ kind, row }) as StoredEntity);
}

/** The units the index would hold for `records`, each with its chunks (text and payload). */
export function indexChunks(records: readonly CorpusRecord[]): UnitChunks[] {
  const loaded: LoadedDocument[] = entitiesOf(records).flatMap((entity) => {
    const draft = documentFor(entity);
    if (!draft) return [];
    return [{ ...draft, contentHash: "", indexedHash: null, indexedModel: null, indexedUnitId: null }];
  });
  const units = indexUnits(loaded, loaded.map((document) => document.id));
  return units.flatMap((unit) => {
    const texts = chunkDocument(unit.header, unit.body);
    if (texts.length === 0) return [];
    return [
      {
        documentId: unit.id,
        chunks: texts.map((text, chunkIndex) => chunkPayloadOf(unit, chunkIndex, text)),
      },
    ];
  });
}
