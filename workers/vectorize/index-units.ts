// What the index holds is made of units: a document on its own, or a group of message
// documents (a chat thread, a window of a conversation) indexed together under the group's
// id. A thread opens with its root message, which itself lives in its room's window. A
// document remembers the unit the index holds it in (indexed_unit_id): when its group changes
// (a chat message whose time moved it to another window), that old unit is rebuilt without it,
// or removed when nothing is left in it.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { documents } from "../db/schema";
import { entityTypeOf, readableTime, threadRootDocumentId } from "../documents/build-text";
import type { ChunkPayload } from "./vector-store";

export type LoadedDocument = {
  id: string;
  kind: string;
  entityId: string;
  text: string;
  contentHash: string;
  source: string;
  title: string;
  header: string;
  room: string | null;
  url: string | null;
  occurredAt: number | null;
  groupId: string | null;
  indexedHash: string | null;
  indexedModel: string | null;
  /** The unit the index holds this document in (null: never indexed, or not known). */
  indexedUnitId: string | null;
};

export type IndexUnit = {
  /** The document id search reports: the document's, or the group's. */
  id: string;
  source: string;
  entityType: string;
  title: string;
  header: string;
  body: string;
  room: string | null;
  url: string | null;
  occurredAt: number | null;
  /** The documents whose current text this unit indexes (not a thread's opener, which belongs to its window). */
  members: LoadedDocument[];
  /** Every document the unit's text is built from: members, and a thread's opener. */
  sources: LoadedDocument[];
  /** Documents the index still holds in this unit that now belong to another: the unit is rebuilt without them. */
  departed: string[];
  /** The documents asked for that this unit is rebuilt for: its failure retries their messages. */
  requestedBy: string[];
};

/** The unit a document belongs to now: its group, or itself. */
export const unitIdOf = (document: Pick<LoadedDocument, "id" | "groupId">) => document.groupId ?? document.id;

/**
 * The documents `ids` name, the other members of their groups, the root of each thread they
 * are in, the threads their messages opened, and the members (and thread root) of the unit the
 * index holds each of them in when that is another one: everything needed to rebuild their
 * units, in one query.
 */
export async function loadDocumentsForIndexing(db: Database, ids: readonly string[]): Promise<LoadedDocument[]> {
  if (ids.length === 0) return [];
  const requested = inIdList(documents.id, ids);
  return db
    .select({
      id: documents.id,
      kind: documents.kind,
      entityId: documents.entityId,
      text: documents.text,
      contentHash: documents.contentHash,
      source: documents.source,
      title: documents.title,
      header: documents.header,
      room: documents.room,
      url: documents.url,
      occurredAt: documents.occurredAt,
      groupId: documents.groupId,
      indexedHash: documents.indexedHash,
      indexedModel: documents.indexedModel,
      indexedUnitId: documents.indexedUnitId,
    })
    .from(documents)
    .where(
      sql`${requested}
        OR ${documents.groupId} IN (SELECT "group_id" FROM "documents" WHERE ${requested} AND "group_id" IS NOT NULL)
        OR ${documents.id} IN (SELECT 'chat_message:' || substr("group_id", 13) FROM "documents" WHERE ${requested} AND "group_id" LIKE 'chat-thread:%')
        OR ${documents.groupId} IN (SELECT 'chat-thread:' || "entity_id" FROM "documents" WHERE ${requested} AND "kind" = 'chat_message')
        OR ${documents.groupId} IN (SELECT "indexed_unit_id" FROM "documents" WHERE ${requested} AND "indexed_unit_id" IS NOT NULL)
        OR ${documents.id} IN (SELECT 'chat_message:' || substr("indexed_unit_id", 13) FROM "documents" WHERE ${requested} AND "indexed_unit_id" LIKE 'chat-thread:%')`,
    );
}

const byTime = (a: LoadedDocument, b: LoadedDocument) => (a.occurredAt ?? 0) - (b.occurredAt ?? 0) || a.id.localeCompare(b.id);

function timeSpan(members: readonly LoadedDocument[]): string | null {
  const times = members.map((member) => member.occurredAt).filter((time): time is number => time !== null);
  if (times.length === 0) return null;
  const [first, last] = [Math.min(...times), Math.max(...times)];
  return first === last ? readableTime(first) : `${readableTime(first)} to ${readableTime(last)}`;
}

function groupUnit(groupId: string, members: LoadedDocument[], opener: LoadedDocument | undefined): Omit<IndexUnit, "departed" | "requestedBy"> {
  const ordered = [...members].sort(byTime);
  const sources = opener ? [opener, ...ordered] : ordered;
  const first = sources[0]!;
  const isThread = groupId.startsWith("chat-thread:");
  const span = timeSpan(sources);
  return {
    id: groupId,
    source: first.source,
    entityType: entityTypeOf(groupId),
    title: [first.title, isThread ? "thread" : null, first.occurredAt !== null ? new Date(first.occurredAt).toISOString().slice(0, 10) : null]
      .filter(Boolean)
      .join(" · "),
    header: [first.header, isThread ? "thread" : null, span].filter(Boolean).join(" · "),
    body: sources.map((source) => source.text).filter((text) => text.trim().length > 0).join("\n"),
    room: first.room,
    url: first.url,
    occurredAt: first.occurredAt,
    members,
    sources,
  };
}

/**
 * The units to rebuild for the documents `requested`: each ungrouped one, each group one of
 * them is in, each thread one of them opened, and the unit the index still holds one of them
 * in when it belongs to another now. A group is only ever built from all its members (a
 * thread's root, loaded as its opener, does not make its window a unit); a unit left with no
 * members has no text, which removes it from the index.
 */
export function indexUnits(loaded: readonly LoadedDocument[], requested: readonly string[]): IndexUnit[] {
  const byId = new Map(loaded.map((document) => [document.id, document]));
  /** Unit id -> the requested documents it is rebuilt for. */
  const wanted = new Map<string, string[]>();
  const want = (unitId: string, requester: string) => {
    const requesters = wanted.get(unitId) ?? [];
    if (!requesters.includes(requester)) requesters.push(requester);
    wanted.set(unitId, requesters);
  };
  const departed = new Map<string, string[]>();
  const leftBehind = new Map<string, LoadedDocument>();
  for (const id of requested) {
    const document = byId.get(id);
    if (!document) continue;
    want(unitIdOf(document), id);
    if (document.kind === "chat_message") want(`chat-thread:${document.entityId}`, id);
    if (document.indexedUnitId !== null && document.indexedUnitId !== unitIdOf(document)) {
      want(document.indexedUnitId, id);
      departed.set(document.indexedUnitId, [...(departed.get(document.indexedUnitId) ?? []), document.id]);
      leftBehind.set(document.indexedUnitId, document);
    }
  }
  const groups = new Map<string, LoadedDocument[]>();
  const units: IndexUnit[] = [];
  const extras = (unitId: string) => ({ departed: departed.get(unitId) ?? [], requestedBy: wanted.get(unitId) ?? [] });
  for (const document of byId.values()) {
    if (!wanted.has(unitIdOf(document))) continue;
    if (document.groupId === null) {
      units.push({
        id: document.id,
        source: document.source,
        entityType: entityTypeOf(document.id, document.kind),
        title: document.title,
        header: document.header,
        body: document.text,
        room: document.room,
        url: document.url,
        occurredAt: document.occurredAt,
        members: [document],
        sources: [document],
        ...extras(document.id),
      });
    } else {
      groups.set(document.groupId, [...(groups.get(document.groupId) ?? []), document]);
    }
  }
  for (const [groupId, members] of groups) {
    const rootId = threadRootDocumentId(groupId);
    units.push({ ...groupUnit(groupId, members, rootId ? byId.get(rootId) : undefined), ...extras(groupId) });
  }
  // A unit every member left: nothing to index, so rebuilding it removes it.
  const built = new Set(units.map((unit) => unit.id));
  for (const [unitId, document] of leftBehind) {
    if (built.has(unitId)) continue;
    units.push({
      id: unitId,
      source: document.source,
      entityType: entityTypeOf(unitId),
      title: "",
      header: "",
      body: "",
      room: document.room,
      url: null,
      occurredAt: null,
      members: [],
      sources: [],
      ...extras(unitId),
    });
  }
  return units;
}

/** A unit the index already holds as it is now, in `model`'s space. */
export const isIndexed = (unit: IndexUnit, model: string) =>
  unit.departed.length === 0 && unit.sources.every((source) => source.indexedHash === source.contentHash && source.indexedModel === model);

/** One chunk of a unit as the store keeps it, before its id and vector: its text, and the unit's source, room, title and time. */
export function chunkPayloadOf(unit: IndexUnit, chunkIndex: number, text: string): ChunkPayload {
  return { documentId: unit.id, chunkIndex, text, source: unit.source, entityType: unit.entityType, room: unit.room, title: unit.title, url: unit.url, occurredAt: unit.occurredAt };
}
