CREATE TABLE `bot_queries` (
	`id` text PRIMARY KEY NOT NULL,
	`message_id` text NOT NULL,
	`room_id` text NOT NULL,
	`thread_id` text NOT NULL,
	`user_id` text,
	`user_name` text,
	`question` text NOT NULL,
	`status` text NOT NULL,
	`mode` text,
	`answer` text,
	`sources` text,
	`model` text,
	`prompt_tokens` integer,
	`completion_tokens` integer,
	`retrieval_ms` integer,
	`model_ms` integer,
	`total_ms` integer,
	`delivery` text,
	`delivery_message_id` text,
	`delivered_at` integer,
	`feedback` text,
	`feedback_reason` text,
	`feedback_at` integer,
	`created_at` integer NOT NULL,
	`answered_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `bot_queries_message_id_unique` ON `bot_queries` (`message_id`);--> statement-breakpoint
CREATE INDEX `bot_queries_thread_idx` ON `bot_queries` (`thread_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `bot_queries_created_idx` ON `bot_queries` (`created_at`,`id`);