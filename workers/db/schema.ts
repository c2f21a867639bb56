// The one D1 schema. Change it here, then `npm run db:generate` writes the migration.
//
// Entity tables share four bookkeeping columns:
// - field_order: per column, the order key (position on the source's own timeline) of the
//   value stored there. A change writes a column only when its key is >= that column's, so a
//   late or redelivered older event never moves a field backwards, and an older event still
//   fills a field that the newer events applied before it did not carry (lean Guesty v2).
// - order_key: the latest snapshot key applied to the row; DELETED_ORDER_KEY once deleted,
//   after which nothing applies.
// - version: bumped on every accepted write; documents remember which version they were
//   built from so a slower concurrent writer cannot replace a newer document.
// - updated_at: wall-clock ms of our last write.
import { sql } from "drizzle-orm";
import { blob, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

const bookkeeping = {
  fieldOrder: text("field_order", { mode: "json" }).$type<Record<string, number>>().notNull().default(sql`'{}'`),
  orderKey: integer("order_key").notNull().default(0),
  version: integer("version").notNull().default(1),
  updatedAt: integer("updated_at").notNull(),
};

export const EVENT_SOURCES = ["aircall", "guesty", "rocketchat"] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

/** received: stored, not yet fully processed (a retry or replay finishes it).
 *  processed: normalized and its documents enqueued.
 *  ignored: an event type we store but do not normalize.
 *  failed: the body did not match the documented shape of its event type. */
export const EVENT_STATUSES = ["received", "processed", "ignored", "failed"] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export const webhookEvents = sqliteTable(
  "webhook_events",
  {
    id: text("id").primaryKey(),
    source: text("source", { enum: EVENT_SOURCES }).notNull(),
    type: text("type").notNull(),
    receivedAt: integer("received_at").notNull(),
    status: text("status", { enum: EVENT_STATUSES }).notNull().default("received"),
    payload: text("payload").notNull(),
    error: text("error"),
    processedAt: integer("processed_at"),
    /** How often the sweep has picked this event up unfinished; it alerts from 3 on. */
    sweepAttempts: integer("sweep_attempts").notNull().default(0),
  },
  (t) => [
    index("webhook_events_received_idx").on(t.receivedAt, t.id),
    index("webhook_events_source_type_idx").on(t.source, t.type, t.receivedAt),
    index("webhook_events_status_idx").on(t.status, t.receivedAt),
    // A Rocket.Chat message's events, latest last: an edit that repeats the latest one is a
    // redelivery, one that repeats an earlier one is an edit back (workers/intake/rocketchat/store-edit.ts).
    index("webhook_events_rocketchat_message_idx")
      // `->>` rather than json_extract(): drizzle-kit splits an index expression at its commas.
      .on(sql`"payload" ->> '$.message_id'`, t.receivedAt)
      .where(sql`"source" = 'rocketchat'`),
  ],
);

// ---- Aircall ----

export const aircallCalls = sqliteTable("aircall_calls", {
  id: integer("id").primaryKey({ autoIncrement: false }),
  direction: text("direction"),
  status: text("status"),
  startedAt: integer("started_at"),
  answeredAt: integer("answered_at"),
  endedAt: integer("ended_at"),
  durationSeconds: integer("duration_seconds"),
  missedCallReason: text("missed_call_reason"),
  hangupCause: text("hangup_cause"),
  userId: integer("user_id"),
  userName: text("user_name"),
  numberId: integer("number_id"),
  numberDigits: text("number_digits"),
  numberName: text("number_name"),
  externalNumber: text("external_number"),
  contactId: integer("contact_id"),
  contactName: text("contact_name"),
  tags: text("tags", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  comments: text("comments", { mode: "json" })
    .$type<{ id: number; content: string; postedBy: string | null; postedAt: number | null }[]>()
    .notNull()
    .default(sql`'[]'`),
  hasVoicemail: integer("has_voicemail", { mode: "boolean" }).notNull().default(false),
  hasRecording: integer("has_recording", { mode: "boolean" }).notNull().default(false),
  archived: integer("archived", { mode: "boolean" }).notNull().default(false),
  // Filled by AI events that can arrive before or after the call's own events.
  transcription: text("transcription"),
  summary: text("summary"),
  ...bookkeeping,
});

export const aircallContacts = sqliteTable("aircall_contacts", {
  id: integer("id").primaryKey({ autoIncrement: false }),
  firstName: text("first_name"),
  lastName: text("last_name"),
  companyName: text("company_name"),
  information: text("information"),
  emails: text("emails", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  phoneNumbers: text("phone_numbers", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  deleted: integer("deleted", { mode: "boolean" }).notNull().default(false),
  ...bookkeeping,
});

export const aircallUsers = sqliteTable("aircall_users", {
  id: integer("id").primaryKey({ autoIncrement: false }),
  name: text("name"),
  email: text("email"),
  available: integer("available", { mode: "boolean" }),
  availabilityStatus: text("availability_status"),
  language: text("language"),
  deleted: integer("deleted", { mode: "boolean" }).notNull().default(false),
  ...bookkeeping,
});

export const aircallNumbers = sqliteTable("aircall_numbers", {
  id: integer("id").primaryKey({ autoIncrement: false }),
  name: text("name"),
  digits: text("digits"),
  country: text("country"),
  timeZone: text("time_zone"),
  open: integer("open", { mode: "boolean" }),
  availabilityStatus: text("availability_status"),
  deleted: integer("deleted", { mode: "boolean" }).notNull().default(false),
  ...bookkeeping,
});

// ---- Guesty ----

export const guestyReservations = sqliteTable(
  "guesty_reservations",
  {
    id: text("id").primaryKey(),
    confirmationCode: text("confirmation_code"),
    status: text("status"),
    checkIn: text("check_in"),
    checkOut: text("check_out"),
    nightsCount: integer("nights_count"),
    guestsCount: integer("guests_count"),
    listingId: text("listing_id"),
    listingName: text("listing_name"),
    guestId: text("guest_id"),
    guestName: text("guest_name"),
    channel: text("channel"),
    ...bookkeeping,
  },
  (t) => [index("guesty_reservations_listing_idx").on(t.listingId), index("guesty_reservations_guest_idx").on(t.guestId)],
);

export const guestyListings = sqliteTable("guesty_listings", {
  id: text("id").primaryKey(),
  title: text("title"),
  nickname: text("nickname"),
  address: text("address"),
  city: text("city"),
  country: text("country"),
  propertyType: text("property_type"),
  bedrooms: integer("bedrooms"),
  bathrooms: integer("bathrooms"),
  accommodates: integer("accommodates"),
  active: integer("active", { mode: "boolean" }),
  deleted: integer("deleted", { mode: "boolean" }).notNull().default(false),
  ...bookkeeping,
});

export const guestyGuests = sqliteTable("guesty_guests", {
  id: text("id").primaryKey(),
  fullName: text("full_name"),
  firstName: text("first_name"),
  lastName: text("last_name"),
  emails: text("emails", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  phones: text("phones", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  deleted: integer("deleted", { mode: "boolean" }).notNull().default(false),
  ...bookkeeping,
});

export const guestyMessages = sqliteTable(
  "guesty_messages",
  {
    id: text("id").primaryKey(),
    conversationId: text("conversation_id"),
    reservationId: text("reservation_id"),
    guestId: text("guest_id"),
    guestName: text("guest_name"),
    /** "received" from the guest/owner, or "sent" by the host. */
    direction: text("direction", { enum: ["received", "sent"] }).notNull(),
    channel: text("channel"),
    body: text("body"),
    sentAt: text("sent_at"),
    ...bookkeeping,
  },
  (t) => [index("guesty_messages_conversation_idx").on(t.conversationId), index("guesty_messages_reservation_idx").on(t.reservationId)],
);

export const guestyTasks = sqliteTable("guesty_tasks", {
  id: text("id").primaryKey(),
  title: text("title"),
  description: text("description"),
  status: text("status"),
  taskType: text("task_type"),
  listingId: text("listing_id"),
  reservationId: text("reservation_id"),
  assigneeId: text("assignee_id"),
  startTime: text("start_time"),
  endTime: text("end_time"),
  deleted: integer("deleted", { mode: "boolean" }).notNull().default(false),
  ...bookkeeping,
});

// ---- Rocket.Chat ----

export const rocketchatMessages = sqliteTable(
  "rocketchat_messages",
  {
    id: text("id").primaryKey(),
    roomId: text("room_id"),
    roomName: text("room_name"),
    /** The thread's root message id, for a reply in a thread. */
    threadId: text("thread_id"),
    userId: text("user_id"),
    userName: text("user_name"),
    text: text("text"),
    /** When it was posted (ms). */
    sentAt: integer("sent_at"),
    edited: integer("edited", { mode: "boolean" }).notNull().default(false),
    /** The server's public URL as the sender reported it, for permalinks. */
    siteUrl: text("site_url"),
    deleted: integer("deleted", { mode: "boolean" }).notNull().default(false),
    ...bookkeeping,
  },
  (t) => [index("rocketchat_messages_room_idx").on(t.roomId, t.sentAt), index("rocketchat_messages_thread_idx").on(t.threadId)],
);

export const ROOM_VISIBILITIES = ["public", "private"] as const;
export type RoomVisibility = (typeof ROOM_VISIBILITIES)[number];

/** Who may see a Rocket.Chat room's messages, as its REST API last said (cached). */
export const chatRooms = sqliteTable("chat_rooms", {
  id: text("id").primaryKey(),
  name: text("name"),
  /** public: a channel; private: a private group or DM, or not known (the safe default). */
  visibility: text("visibility", { enum: ROOM_VISIBILITIES }).notNull(),
  /** Rocket.Chat's room type (c, p, d, l), or null when it could not be asked. */
  roomType: text("room_type"),
  checkedAt: integer("checked_at").notNull(),
});

// ---- Searchable documents ----

export const documents = sqliteTable(
  "documents",
  {
    /** "<kind>:<entity id>", e.g. "call:780836699". */
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    entityId: text("entity_id").notNull(),
    text: text("text").notNull(),
    /** SHA-256 (hex) of text. */
    contentHash: text("content_hash").notNull(),
    /** content_hash at the last successful send to the vectorize queue. */
    enqueuedHash: text("enqueued_hash"),
    /** When the document was last handed to the vectorize queue (ms). */
    enqueuedAt: integer("enqueued_at"),
    entityVersion: integer("entity_version").notNull(),
    updatedAt: integer("updated_at").notNull(),
    // What search shows and filters on. content_hash covers these as well as text.
    source: text("source").notNull().default(""),
    title: text("title").notNull().default(""),
    /** Who, where and when, in one line: the first line of every chunk. */
    header: text("header").notNull().default(""),
    /** Chat room; null for business records. */
    room: text("room"),
    url: text("url"),
    /** When what the document tells happened (ms). */
    occurredAt: integer("occurred_at"),
    /**
     * A chat thread or conversation window this document is one message of. Grouped documents
     * are indexed together, as one unit named by the group id.
     */
    groupId: text("group_id"),
    /** content_hash, embedder model and time of what the index holds for this document. */
    indexedHash: text("indexed_hash"),
    indexedModel: text("indexed_model"),
    indexedAt: integer("indexed_at"),
    /**
     * The unit (group id, or the document's own id) the index holds this document's text in. A
     * document whose group changed since (a chat message whose time moved it to another window)
     * has its old unit rebuilt without it (workers/vectorize/index-units.ts).
     */
    indexedUnitId: text("indexed_unit_id"),
  },
  (t) => [
    index("documents_pending_idx").on(t.enqueuedHash, t.contentHash),
    index("documents_group_idx").on(t.groupId),
    index("documents_indexed_model_idx").on(t.indexedModel),
    // The catch-up sweep's work list: documents whose indexed text is not their current text.
    index("documents_stale_idx")
      .on(t.updatedAt)
      .where(sql`"indexed_hash" IS NULL OR "indexed_hash" <> "content_hash"`),
  ],
);

/** Messages a queue gave up on after its last retry, recorded by the dead-letter consumer. */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    /** The queue's message id. */
    id: text("id").primaryKey(),
    /** The queue the message was meant for (role, without environment suffix). */
    queue: text("queue").notNull(),
    body: text("body").notNull(),
    /** The document it names, for vectorize messages. */
    documentId: text("document_id"),
    attempts: integer("attempts").notNull(),
    deadAt: integer("dead_at").notNull(),
    replayedAt: integer("replayed_at"),
    /** The document's content_hash when it was dead-lettered: the catch-up leaves it alone only while it is unchanged. */
    contentHash: text("content_hash"),
    /**
     * Closed without a replay: the document was indexed since (it changed, or its unit was rebuilt
     * with it), or a newer dead letter names it.
     */
    supersededAt: integer("superseded_at"),
  },
  (t) => [
    index("dead_letters_open_idx").on(t.replayedAt, t.deadAt),
    index("dead_letters_document_idx").on(t.documentId),
    // The metrics rollup reads dead letters by time (workers/metrics/rollup.ts).
    index("dead_letters_dead_at_idx").on(t.deadAt),
  ],
);

// ---- Search index (the embedded vector store) ----

/**
 * One chunk of a document as indexed: its text (header line included), its vector and the
 * payload searches filter on. Its id is a UUIDv5 of document id and chunk index, so writing a
 * chunk again replaces it. `search_chunks_fts` (FTS5, hand-written migration) mirrors `text`
 * through triggers, for the keyword half of hybrid search.
 */
export const searchChunks = sqliteTable(
  "search_chunks",
  {
    id: text("id").primaryKey(),
    documentId: text("document_id").notNull(),
    chunkIndex: integer("chunk_index").notNull(),
    /** The embedder's model: vectors of different models are never compared. */
    model: text("model").notNull(),
    /** float32 little-endian, `dimensions` of the model. */
    vector: blob("vector", { mode: "buffer" }).$type<ArrayBuffer>().notNull(),
    text: text("text").notNull(),
    source: text("source").notNull(),
    entityType: text("entity_type").notNull(),
    /** Chat room of a chat chunk; null for business records. */
    room: text("room"),
    title: text("title").notNull(),
    url: text("url"),
    /** When what the chunk tells happened (ms). */
    occurredAt: integer("occurred_at"),
    /**
     * The vector's random-hyperplane bucket in each of the 8 bands (workers/vectorize/lsh.ts,
     * LSH_BANDS): the dense half's candidates. A search reads a bounded slice of each of its
     * buckets through the band's index (model, bucket, then rowid, newest first). Columns with an
     * index each, not a row per band in a table of their own (migration 0021): one index entry
     * written per band instead of a row and two index entries. Null until the chunk is written
     * again (chunks indexed before migration 0022).
     */
    lsh0: integer("lsh0"),
    lsh1: integer("lsh1"),
    lsh2: integer("lsh2"),
    lsh3: integer("lsh3"),
    lsh4: integer("lsh4"),
    lsh5: integer("lsh5"),
    lsh6: integer("lsh6"),
    lsh7: integer("lsh7"),
  },
  (t) => [
    index("search_chunks_document_idx").on(t.documentId),
    index("search_chunks_model_idx").on(t.model, t.source, t.entityType),
    index("search_chunks_lsh0_idx").on(t.model, t.lsh0),
    index("search_chunks_lsh1_idx").on(t.model, t.lsh1),
    index("search_chunks_lsh2_idx").on(t.model, t.lsh2),
    index("search_chunks_lsh3_idx").on(t.model, t.lsh3),
    index("search_chunks_lsh4_idx").on(t.model, t.lsh4),
    index("search_chunks_lsh5_idx").on(t.model, t.lsh5),
    index("search_chunks_lsh6_idx").on(t.model, t.lsh6),
    index("search_chunks_lsh7_idx").on(t.model, t.lsh7),
  ],
);

/**
 * Summaries of long indexed units (Groq), by a hash of the unit's text and the summarizer's
 * model: an unchanged document is never summarized twice, even when it is re-vectorized.
 */
export const documentSummaries = sqliteTable("document_summaries", {
  /** SHA-256 (hex) of the summarizer model and the unit's header and text. */
  key: text("key").primaryKey(),
  model: text("model").notNull(),
  summary: text("summary").notNull(),
  createdAt: integer("created_at").notNull(),
});

// ---- Rocket.Chat bot ----

export const BOT_QUERY_STATUSES = ["pending", "answered", "failed"] as const;
export const BOT_ANSWER_MODES = ["groq", "extractive", "refusal", "error", "help"] as const;

/** Every question asked of the bot, its answer, sources, model, usage, timings and feedback. */
export const botQueries = sqliteTable(
  "bot_queries",
  {
    id: text("id").primaryKey(),
    /** The question's Rocket.Chat message id: a redelivered webhook finds its query here. */
    messageId: text("message_id").notNull().unique(),
    roomId: text("room_id").notNull(),
    /** The thread the answer goes to: the message's tmid, else the message itself. */
    threadId: text("thread_id").notNull(),
    userId: text("user_id"),
    userName: text("user_name"),
    question: text("question").notNull(),
    status: text("status", { enum: BOT_QUERY_STATUSES }).notNull(),
    mode: text("mode", { enum: BOT_ANSWER_MODES }),
    answer: text("answer"),
    /** [{n, documentId, title, occurredAt, url}] as listed under the answer. */
    sources: text("sources", { mode: "json" }).$type<{ n: number; documentId: string; title: string; occurredAt: number | null; url: string | null }[]>(),
    model: text("model"),
    promptTokens: integer("prompt_tokens"),
    completionTokens: integer("completion_tokens"),
    retrievalMs: integer("retrieval_ms"),
    modelMs: integer("model_ms"),
    totalMs: integer("total_ms"),
    /** sync: in the webhook's answer; async: posted later through the REST API. */
    delivery: text("delivery", { enum: ["sync", "async"] }),
    /** The id of the message the async path posts (derived from the query, so a retry cannot post twice). */
    deliveryMessageId: text("delivery_message_id"),
    deliveredAt: integer("delivered_at"),
    feedback: text("feedback", { enum: ["good", "bad"] }),
    feedbackReason: text("feedback_reason"),
    feedbackAt: integer("feedback_at"),
    createdAt: integer("created_at").notNull(),
    answeredAt: integer("answered_at"),
    /** When the question was handed to the bot queue (ms); null: never, so a redelivered webhook answers it again. */
    queuedAt: integer("queued_at"),
    /** How many sweeps tried to answer or close it (the sweep gives up after a few). */
    sweepAttempts: integer("sweep_attempts").notNull().default(0),
  },
  (t) => [
    index("bot_queries_thread_idx").on(t.threadId, t.createdAt),
    index("bot_queries_created_idx").on(t.createdAt, t.id),
    // The sweep's work list: questions whose answer (or honest failure) is not in the thread yet.
    index("bot_queries_undelivered_idx").on(t.createdAt).where(sql`"delivered_at" IS NULL`),
  ],
);

// ---- Backups ----

export const BACKUP_KINDS = ["backup", "restore-test"] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];
/** scheduled → creating → running → reported → deleting → done | partial | failed */
export const BACKUP_RUN_STATUSES = ["scheduled", "creating", "running", "reported", "deleting", "done", "partial", "failed"] as const;
export type BackupRunStatus = (typeof BACKUP_RUN_STATUSES)[number];

/** One part of a run as the runner reported it: a target (or `targets`, kind none, when there were none). */
export type BackupRunPart = { name: string; kind: string; ok: boolean; reason: string | null; bytes: number; seconds: number };

/**
 * Every backup run, mirrored from the BackupScheduler Durable Object (which owns the state
 * machine and checks the runner's token) for the admin API.
 */
export const backupRuns = sqliteTable(
  "backup_runs",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: BACKUP_KINDS }).notNull(),
    status: text("status", { enum: BACKUP_RUN_STATUSES }).notNull(),
    /** "cron" or "manual". */
    trigger: text("trigger").notNull(),
    /** SHA-256 (hex) of the run's token; the token itself is never stored. */
    tokenHash: text("token_hash").notNull(),
    serverId: integer("server_id"),
    serverName: text("server_name").notNull(),
    /** The runner's report URL base (PUBLIC_BASE_URL or the manual request's origin). */
    baseUrl: text("base_url"),
    createdAt: integer("created_at").notNull(),
    deadline: integer("deadline").notNull(),
    serverCreatedAt: integer("server_created_at"),
    serverDeletedAt: integer("server_deleted_at"),
    reportedAt: integer("reported_at"),
    finishedAt: integer("finished_at"),
    snapshotId: text("snapshot_id"),
    /** restic's `data_added` from the report's summary. */
    bytesAdded: integer("bytes_added"),
    /** restic's exit code from the report (3: some files could not be read). */
    exitCode: integer("exit_code"),
    /** True when the run ended `partial`: a snapshot exists but some part of the run failed. */
    partial: integer("partial", { mode: "boolean" }),
    /** The runner's report as it sent it (version 2), or a note on a report that could not be read. */
    report: text("report", { mode: "json" }).$type<Record<string, unknown>>(),
    /** Every part of the run as reported: target, ok, reason, bytes, seconds. */
    parts: text("parts", { mode: "json" }).$type<BackupRunPart[]>(),
    /** What failed, by name ("mongodb", "restore-test check"); [] for a run that fully succeeded. */
    failedParts: text("failed_parts", { mode: "json" }).$type<string[]>(),
    error: text("error"),
    /** Hetzner API requests this run made. */
    hetznerCalls: integer("hetzner_calls").notNull().default(0),
    /** The Durable Object's version of the run: a mirror write never replaces a newer one. */
    version: integer("version").notNull().default(0),
  },
  (t) => [index("backup_runs_created_idx").on(t.createdAt, t.id)],
);

// ---- secrets store: versions, hashes and audit in D1; the encrypted values live in KV.

/** One row per env/app: the current version (D1 decides; KV keys are immutable per version). */
export const secretSets = sqliteTable(
  "secret_sets",
  {
    env: text("env").notNull(),
    app: text("app").notNull(),
    currentVersion: integer("current_version").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("secret_sets_env_app").on(t.env, t.app)],
);

/** Every version of an app's set: names with HMACs under the env's key, never values. */
export const secretVersions = sqliteTable(
  "secret_versions",
  {
    env: text("env").notNull(),
    app: text("app").notNull(),
    version: integer("version").notNull(),
    /** name → hex HMAC-SHA256(env key, NAME + "\0" + value). */
    hmacs: text("hmacs", { mode: "json" }).notNull().$type<Record<string, string>>(),
    /** Where the encrypted set is in KV (random suffix: a losing concurrent write never overwrites). */
    kvKey: text("kv_key").notNull(),
    actor: text("actor").notNull(),
    restoredFrom: integer("restored_from"),
    createdAt: integer("created_at").notNull(),
    /**
     * The master key id its KV entry is sealed under, as far as D1 knows: set on write and by each
     * re-wrap; null for versions written before this column (a re-wrap looks them up in KV).
     * A rotation is complete only when every row names the current key.
     */
    kid: text("kid"),
  },
  (t) => [uniqueIndex("secret_versions_env_app_version").on(t.env, t.app, t.version)],
);

/** Per environment, the HMAC key the sync CLI diffs with, wrapped by the master key. */
export const secretEnvKeys = sqliteTable("secret_env_keys", {
  env: text("env").primaryKey(),
  wrapped: text("wrapped").notNull(),
  kid: text("kid").notNull(),
  createdAt: integer("created_at").notNull(),
});

/** App tokens, stored as SHA-256; each reads exactly one env/app. */
export const secretTokens = sqliteTable(
  "secret_tokens",
  {
    id: text("id").primaryKey(),
    env: text("env").notNull(),
    app: text("app").notNull(),
    tokenHash: text("token_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("secret_tokens_hash").on(t.tokenHash)],
);

/** Who did what to which set, when, at which version: never a value. */
export const secretAudit = sqliteTable(
  "secret_audit",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    env: text("env").notNull(),
    app: text("app"),
    version: integer("version"),
    /** Why, in our words (a re-wrap's failure: "the KV entry is missing"); never a value. */
    detail: text("detail"),
  },
  (t) => [index("secret_audit_env_app").on(t.env, t.app, t.at)],
);

/** Reads per app token per minute (rate limit). */
export const secretReadCounts = sqliteTable(
  "secret_read_counts",
  {
    tokenId: text("token_id").notNull(),
    minute: integer("minute").notNull(),
    count: integer("count").notNull(),
  },
  (t) => [uniqueIndex("secret_read_counts_token_minute").on(t.tokenId, t.minute)],
);

/**
 * Sessions of the operator pages' token login (only where Cloudflare Access is not configured).
 * The cookie holds the id (signed with a key derived from the master key); D1 holds its SHA-256
 * and expiry, so logout ends one session and deleting the rows ends all.
 */
export const adminSessions = sqliteTable(
  "admin_sessions",
  {
    idHash: text("id_hash").primaryKey(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("admin_sessions_expires").on(t.expiresAt)],
);

/** What a timed cron job did with its occurrences, each recorded once. */
export const CRON_JOB_OUTCOMES = ["none", "started", "failed", "missed"] as const;
export type CronJobOutcome = (typeof CRON_JOB_OUTCOMES)[number];

/**
 * Timed cron jobs (the daily backup, the weekly restore test), one row each. One cron trigger
 * fires every five minutes and the dispatcher (workers/scheduler/dispatch.ts) decides what is
 * due: a job's occurrence runs on the one tick within five minutes after its time, claimed here
 * so a redelivered tick never runs it twice; an occurrence whose ticks never came is reported
 * as missed by the next tick, never started late.
 */
export const cronJobState = sqliteTable("cron_job_state", {
  name: text("name").primaryKey(),
  /** Scheduled time (ms) of the last occurrence handled (run or reported missed); 0 for none yet. */
  lastDueAt: integer("last_due_at").notNull(),
  lastOutcome: text("last_outcome", { enum: CRON_JOB_OUTCOMES }).notNull(),
  /** The last tick (scheduled time, ms) that looked at this job: an occurrence between it and a later tick's window was skipped. */
  lastTickAt: integer("last_tick_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

// ---- Language models that stopped answering ----

/**
 * A Groq model that answered `model_not_found` or `model_decommissioned`, by the variable that
 * names it (GROQ_MODEL for summaries, GROQ_ANSWER_MODEL for the bot): a configuration error,
 * alerted once when the row is made, shown on /healthz while it exists, and deleted when the
 * model answers again. Keyed by model id, so a corrected variable takes effect at once.
 */
export const groqModelOutages = sqliteTable(
  "groq_model_outages",
  {
    variable: text("variable").notNull(),
    model: text("model").notNull(),
    /** Groq's error code. */
    code: text("code").notNull(),
    /** First answer saying so (ms). */
    since: integer("since").notNull(),
    /** Latest call that got that answer (ms): the model is asked again only some time after it. */
    checkedAt: integer("checked_at").notNull(),
  },
  (t) => [uniqueIndex("groq_model_outages_variable_model").on(t.variable, t.model)],
);

/**
 * Index units indexed without the summary they should have, because the summarizer's model was
 * unavailable. The catch-up sweep sends them again once the model answers; a unit leaves the
 * list when it is indexed with its summary (or no longer needs one).
 */
export const summaryBacklog = sqliteTable("summary_backlog", {
  unitId: text("unit_id").primaryKey(),
  /** A member document of the unit: sending it to the vectorize queue rebuilds the unit. */
  documentId: text("document_id").notNull(),
  /** The summarizer model that could not summarize it. */
  model: text("model").notNull(),
  since: integer("since").notNull(),
});

// ---- Rocket.Chat bot limits ----

/**
 * Questions to the bot per minute, by "user:<id>" and "room:<id>" (BOT_RATE_LIMIT,
 * BOT_ROOM_RATE_LIMIT): one upsert counts both keys; the bot sweep deletes earlier minutes.
 */
export const botRateCounts = sqliteTable(
  "bot_rate_counts",
  {
    key: text("key").notNull(),
    /** Epoch minute (ms / 60 000, floored). */
    minute: integer("minute").notNull(),
    count: integer("count").notNull(),
  },
  (t) => [uniqueIndex("bot_rate_counts_key_minute").on(t.key, t.minute)],
);

// ---- Metrics (workers/metrics/) ----

/**
 * Running totals behind /api/metrics and /admin, so a scrape reads a few rows whatever the
 * history. `series` is a JSON array: the figure's name, then its label values. scope "total":
 * all-time sums (bucket 0); "max": the latest value (bucket 0); "hour"/"day": sums per epoch hour
 * or day (bucket), pruned; "sample": a value recorded per cron tick (bucket: epoch minute), pruned.
 * Rows older than their table's cursor are folded in by the metrics cron job; triggers
 * (hand-written migration) correct the totals when such a row changes later.
 */
export const METRIC_SCOPES = ["total", "max", "hour", "day", "sample"] as const;
export const metricRollups = sqliteTable(
  "metric_rollups",
  {
    scope: text("scope", { enum: METRIC_SCOPES }).notNull(),
    bucket: integer("bucket").notNull(),
    series: text("series").notNull(),
    value: integer("value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.bucket, t.series] })],
);

/** Per source table: every row with its time column below `rolled_until` (ms) is in metric_rollups. */
export const metricRollupCursors = sqliteTable("metric_rollup_cursors", {
  source: text("source").primaryKey(),
  rolledUntil: integer("rolled_until").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** Alerts raised (workers/alerts/), newest kept for the status page; pruned after a week. */
export const alerts = sqliteTable(
  "alerts",
  {
    id: text("id").primaryKey(),
    at: integer("at").notNull(),
    message: text("message").notNull(),
    /** The alert's log fields (identifiers and outcomes only, as logged). */
    fields: text("fields", { mode: "json" }).$type<Record<string, string | number | boolean | null>>().notNull(),
    /** posted, failed, suppressed (the same message posted moments ago) or off (no ALERT_WEBHOOK_URL). */
    delivery: text("delivery").notNull(),
  },
  (t) => [index("alerts_at_idx").on(t.at), index("alerts_message_idx").on(t.message, t.at)],
);

// ---- Rocket.Chat history sync (workers/chat-sync/) ----

/** How a server's changes are read: chat.syncMessages' cursor form, its lastUpdate form, or chat.getDeletedMessages and history. */
export const CHAT_SYNC_CHANGE_MODES = ["cursor", "last-update", "fallback"] as const;
export type ChatSyncChangeMode = (typeof CHAT_SYNC_CHANGE_MODES)[number];

/** One row per Rocket.Chat server (ROCKETCHAT_URL) the sync has read: what its API offers and where the sync stands. */
export const chatSyncServers = sqliteTable("chat_sync_servers", {
  /** ROCKETCHAT_URL without a trailing slash. */
  server: text("server").primaryKey(),
  changeMode: text("change_mode", { enum: CHAT_SYNC_CHANGE_MODES }),
  /** When the change mode was detected (ms): it is detected again a day later (a server upgrade). */
  changeModeAt: integer("change_mode_at"),
  /** rooms.get's `updatedSince` for the next run: the latest room `_updatedAt` or `_deletedAt` seen (server ms). */
  roomsCursor: integer("rooms_cursor"),
  /** channels.list offset of the listing pass under way, and when that pass started (ms). */
  channelsOffset: integer("channels_offset").notNull().default(0),
  channelsPassStartedAt: integer("channels_pass_started_at"),
  /** The endpoint whose 404 turned the sync off (null while on), since when, and when it was last asked. */
  offEndpoint: text("off_endpoint"),
  offSince: integer("off_since"),
  offCheckedAt: integer("off_checked_at"),
  /** Rocket.Chat's X-RateLimit-Reset after a 429 that stopped a run: no run asks before it. */
  rateLimitedUntil: integer("rate_limited_until"),
  /** A run holds the server until then (ms): a second run (cron and manual at once) does not start. */
  leaseUntil: integer("lease_until").notNull().default(0),
  lastRunAt: integer("last_run_at"),
  lastRunOutcome: text("last_run_outcome"),
});

/**
 * Every room the sync has listed, per server. A room's history is read oldest first, in time
 * windows [history_from, min(history_from + history_window_ms, history_until)], until
 * history_from passes history_until (the time its backfill started); its changes since then are
 * read from updated_cursor and deleted_cursor. Cursors only move after what they cover is stored.
 */
export const chatSyncRooms = sqliteTable(
  "chat_sync_rooms",
  {
    server: text("server").notNull(),
    roomId: text("room_id").notNull(),
    /** Rocket.Chat's room type (c, p, d) and name, as last listed. */
    roomType: text("room_type").notNull(),
    name: text("name"),
    /** active, or gone: deleted, or no longer readable by the bot (its messages stay, its room counts as private). */
    state: text("state", { enum: ["active", "gone"] }).notNull().default("active"),
    /** Last listed by rooms.get (the bot belongs to it) and by channels.list (a public channel), ms. */
    memberSeenAt: integer("member_seen_at"),
    directorySeenAt: integer("directory_seen_at"),
    /** The room's own `_updatedAt` as listed: a room changed since its last sync is read first. */
    roomUpdatedAt: integer("room_updated_at"),
    /** The room's creation (`ts`), when listed: the backfill's progress is measured from it. */
    roomCreatedAt: integer("room_created_at"),
    historyFrom: integer("history_from").notNull(),
    historyUntil: integer("history_until").notNull(),
    historyWindowMs: integer("history_window_ms").notNull(),
    /** Messages of one millisecond beyond a page: the offset within it. */
    historyOffset: integer("history_offset").notNull().default(0),
    backfilledAt: integer("backfilled_at"),
    updatedCursor: integer("updated_cursor").notNull(),
    deletedCursor: integer("deleted_cursor").notNull(),
    /** Messages and deletions read from Rocket.Chat for this room (each stored once). */
    messagesRead: integer("messages_read").notNull().default(0),
    syncedAt: integer("synced_at"),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.server, t.roomId] }), index("chat_sync_rooms_due_idx").on(t.server, t.state, t.syncedAt)],
);
