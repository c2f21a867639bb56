-- Keyword index over search_chunks.text for the keyword half of hybrid search. FTS5 virtual
-- tables are outside drizzle's schema, so this migration is hand-written. External content:
-- the text lives once, in search_chunks; the triggers keep the index in step with it.
CREATE VIRTUAL TABLE `search_chunks_fts` USING fts5(`text`, content='search_chunks', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
--> statement-breakpoint
CREATE TRIGGER `search_chunks_fts_insert` AFTER INSERT ON `search_chunks` BEGIN
  INSERT INTO `search_chunks_fts` (rowid, `text`) VALUES (new.rowid, new.`text`);
END;
--> statement-breakpoint
CREATE TRIGGER `search_chunks_fts_delete` AFTER DELETE ON `search_chunks` BEGIN
  INSERT INTO `search_chunks_fts` (`search_chunks_fts`, rowid, `text`) VALUES ('delete', old.rowid, old.`text`);
END;
--> statement-breakpoint
CREATE TRIGGER `search_chunks_fts_update` AFTER UPDATE OF `text` ON `search_chunks` BEGIN
  INSERT INTO `search_chunks_fts` (`search_chunks_fts`, rowid, `text`) VALUES ('delete', old.rowid, old.`text`);
  INSERT INTO `search_chunks_fts` (rowid, `text`) VALUES (new.rowid, new.`text`);
END;
