CREATE TABLE `search_chunk_buckets` (
	`model` text NOT NULL,
	`band` integer NOT NULL,
	`bucket` integer NOT NULL,
	`chunk_rowid` integer NOT NULL,
	PRIMARY KEY(`model`, `band`, `bucket`, `chunk_rowid`)
);
--> statement-breakpoint
CREATE INDEX `search_chunk_buckets_chunk_idx` ON `search_chunk_buckets` (`chunk_rowid`);
--> statement-breakpoint
-- Hand-written (drizzle does not model triggers): a chunk removed by any statement takes its buckets with it.
CREATE TRIGGER `search_chunk_buckets_delete` AFTER DELETE ON `search_chunks` BEGIN
  DELETE FROM `search_chunk_buckets` WHERE `chunk_rowid` = old.rowid;
END;
--> statement-breakpoint
-- Hand-written: how many chunks hold each word, so a search can leave out words too common to
-- rank by (workers/vectorize/d1-vector-store.ts) instead of scoring most of the index for them.
CREATE VIRTUAL TABLE `search_chunks_fts_vocab` USING fts5vocab(`search_chunks_fts`, 'row');
