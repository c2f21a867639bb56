CREATE TABLE `bot_rate_counts` (
	`key` text NOT NULL,
	`minute` integer NOT NULL,
	`count` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `bot_rate_counts_key_minute` ON `bot_rate_counts` (`key`,`minute`);--> statement-breakpoint
ALTER TABLE `bot_queries` ADD `queued_at` integer;--> statement-breakpoint
ALTER TABLE `bot_queries` ADD `sweep_attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `bot_queries_undelivered_idx` ON `bot_queries` (`created_at`) WHERE "delivered_at" IS NULL;