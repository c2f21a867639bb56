CREATE TABLE `chat_sync_rooms` (
	`server` text NOT NULL,
	`room_id` text NOT NULL,
	`room_type` text NOT NULL,
	`name` text,
	`state` text DEFAULT 'active' NOT NULL,
	`member_seen_at` integer,
	`directory_seen_at` integer,
	`room_updated_at` integer,
	`room_created_at` integer,
	`history_from` integer NOT NULL,
	`history_until` integer NOT NULL,
	`history_window_ms` integer NOT NULL,
	`history_offset` integer DEFAULT 0 NOT NULL,
	`backfilled_at` integer,
	`updated_cursor` integer NOT NULL,
	`deleted_cursor` integer NOT NULL,
	`messages_read` integer DEFAULT 0 NOT NULL,
	`synced_at` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`server`, `room_id`)
);
--> statement-breakpoint
CREATE INDEX `chat_sync_rooms_due_idx` ON `chat_sync_rooms` (`server`,`state`,`synced_at`);--> statement-breakpoint
CREATE TABLE `chat_sync_servers` (
	`server` text PRIMARY KEY NOT NULL,
	`change_mode` text,
	`change_mode_at` integer,
	`rooms_cursor` integer,
	`channels_offset` integer DEFAULT 0 NOT NULL,
	`channels_pass_started_at` integer,
	`off_endpoint` text,
	`off_since` integer,
	`off_checked_at` integer,
	`rate_limited_until` integer,
	`lease_until` integer DEFAULT 0 NOT NULL,
	`last_run_at` integer,
	`last_run_outcome` text
);
