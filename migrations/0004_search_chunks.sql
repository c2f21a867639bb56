CREATE TABLE `search_chunks` (
	`id` text PRIMARY KEY NOT NULL,
	`document_id` text NOT NULL,
	`chunk_index` integer NOT NULL,
	`model` text NOT NULL,
	`vector` blob NOT NULL,
	`text` text NOT NULL,
	`source` text NOT NULL,
	`entity_type` text NOT NULL,
	`room` text,
	`title` text NOT NULL,
	`url` text,
	`occurred_at` integer
);
--> statement-breakpoint
CREATE INDEX `search_chunks_document_idx` ON `search_chunks` (`document_id`);--> statement-breakpoint
CREATE INDEX `search_chunks_model_idx` ON `search_chunks` (`model`,`source`,`entity_type`);