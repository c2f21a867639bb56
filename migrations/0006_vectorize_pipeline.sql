CREATE TABLE `chat_rooms` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text,
	`visibility` text NOT NULL,
	`room_type` text,
	`checked_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`queue` text NOT NULL,
	`body` text NOT NULL,
	`document_id` text,
	`attempts` integer NOT NULL,
	`dead_at` integer NOT NULL,
	`replayed_at` integer
);
--> statement-breakpoint
CREATE INDEX `dead_letters_open_idx` ON `dead_letters` (`replayed_at`,`dead_at`);--> statement-breakpoint
CREATE INDEX `dead_letters_document_idx` ON `dead_letters` (`document_id`);--> statement-breakpoint
CREATE TABLE `rocketchat_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text,
	`room_name` text,
	`thread_id` text,
	`user_id` text,
	`user_name` text,
	`text` text,
	`sent_at` integer,
	`edited` integer DEFAULT false NOT NULL,
	`site_url` text,
	`deleted` integer DEFAULT false NOT NULL,
	`field_order` text DEFAULT '{}' NOT NULL,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `rocketchat_messages_room_idx` ON `rocketchat_messages` (`room_id`,`sent_at`);--> statement-breakpoint
CREATE INDEX `rocketchat_messages_thread_idx` ON `rocketchat_messages` (`thread_id`);--> statement-breakpoint
ALTER TABLE `documents` ADD `enqueued_at` integer;--> statement-breakpoint
ALTER TABLE `documents` ADD `source` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `documents` ADD `title` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `documents` ADD `header` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `documents` ADD `room` text;--> statement-breakpoint
ALTER TABLE `documents` ADD `url` text;--> statement-breakpoint
ALTER TABLE `documents` ADD `occurred_at` integer;--> statement-breakpoint
ALTER TABLE `documents` ADD `group_id` text;--> statement-breakpoint
ALTER TABLE `documents` ADD `indexed_hash` text;--> statement-breakpoint
ALTER TABLE `documents` ADD `indexed_model` text;--> statement-breakpoint
ALTER TABLE `documents` ADD `indexed_at` integer;--> statement-breakpoint
CREATE INDEX `documents_group_idx` ON `documents` (`group_id`);--> statement-breakpoint
CREATE INDEX `documents_indexed_model_idx` ON `documents` (`indexed_model`);--> statement-breakpoint
CREATE INDEX `documents_stale_idx` ON `documents` (`updated_at`) WHERE "indexed_hash" IS NULL OR "indexed_hash" <> "content_hash";