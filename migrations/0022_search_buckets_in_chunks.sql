-- Hand-written: the trigger that removed a chunk's bucket rows goes before their table does.
DROP TRIGGER `search_chunk_buckets_delete`;--> statement-breakpoint
ALTER TABLE `search_chunks` ADD `lsh0` integer;--> statement-breakpoint
ALTER TABLE `search_chunks` ADD `lsh1` integer;--> statement-breakpoint
ALTER TABLE `search_chunks` ADD `lsh2` integer;--> statement-breakpoint
ALTER TABLE `search_chunks` ADD `lsh3` integer;--> statement-breakpoint
ALTER TABLE `search_chunks` ADD `lsh4` integer;--> statement-breakpoint
ALTER TABLE `search_chunks` ADD `lsh5` integer;--> statement-breakpoint
ALTER TABLE `search_chunks` ADD `lsh6` integer;--> statement-breakpoint
ALTER TABLE `search_chunks` ADD `lsh7` integer;--> statement-breakpoint
-- Hand-written: each chunk keeps the buckets it had (one column per band, 0 .. 7), then the
-- table of bucket rows goes.
UPDATE `search_chunks` SET
  `lsh0` = (SELECT `bucket` FROM `search_chunk_buckets` WHERE `chunk_rowid` = `search_chunks`.rowid AND `model` = `search_chunks`.`model` AND `band` = 0),
  `lsh1` = (SELECT `bucket` FROM `search_chunk_buckets` WHERE `chunk_rowid` = `search_chunks`.rowid AND `model` = `search_chunks`.`model` AND `band` = 1),
  `lsh2` = (SELECT `bucket` FROM `search_chunk_buckets` WHERE `chunk_rowid` = `search_chunks`.rowid AND `model` = `search_chunks`.`model` AND `band` = 2),
  `lsh3` = (SELECT `bucket` FROM `search_chunk_buckets` WHERE `chunk_rowid` = `search_chunks`.rowid AND `model` = `search_chunks`.`model` AND `band` = 3),
  `lsh4` = (SELECT `bucket` FROM `search_chunk_buckets` WHERE `chunk_rowid` = `search_chunks`.rowid AND `model` = `search_chunks`.`model` AND `band` = 4),
  `lsh5` = (SELECT `bucket` FROM `search_chunk_buckets` WHERE `chunk_rowid` = `search_chunks`.rowid AND `model` = `search_chunks`.`model` AND `band` = 5),
  `lsh6` = (SELECT `bucket` FROM `search_chunk_buckets` WHERE `chunk_rowid` = `search_chunks`.rowid AND `model` = `search_chunks`.`model` AND `band` = 6),
  `lsh7` = (SELECT `bucket` FROM `search_chunk_buckets` WHERE `chunk_rowid` = `search_chunks`.rowid AND `model` = `search_chunks`.`model` AND `band` = 7);--> statement-breakpoint
DROP TABLE `search_chunk_buckets`;--> statement-breakpoint
CREATE INDEX `search_chunks_lsh0_idx` ON `search_chunks` (`model`,`lsh0`);--> statement-breakpoint
CREATE INDEX `search_chunks_lsh1_idx` ON `search_chunks` (`model`,`lsh1`);--> statement-breakpoint
CREATE INDEX `search_chunks_lsh2_idx` ON `search_chunks` (`model`,`lsh2`);--> statement-breakpoint
CREATE INDEX `search_chunks_lsh3_idx` ON `search_chunks` (`model`,`lsh3`);--> statement-breakpoint
CREATE INDEX `search_chunks_lsh4_idx` ON `search_chunks` (`model`,`lsh4`);--> statement-breakpoint
CREATE INDEX `search_chunks_lsh5_idx` ON `search_chunks` (`model`,`lsh5`);--> statement-breakpoint
CREATE INDEX `search_chunks_lsh6_idx` ON `search_chunks` (`model`,`lsh6`);--> statement-breakpoint
CREATE INDEX `search_chunks_lsh7_idx` ON `search_chunks` (`model`,`lsh7`);