CREATE TABLE `backup_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`trigger` text NOT NULL,
	`token_hash` text NOT NULL,
	`server_id` integer,
	`server_name` text NOT NULL,
	`base_url` text,
	`created_at` integer NOT NULL,
	`deadline` integer NOT NULL,
	`server_created_at` integer,
	`server_deleted_at` integer,
	`reported_at` integer,
	`finished_at` integer,
	`snapshot_id` text,
	`bytes_added` integer,
	`exit_code` integer,
	`partial` integer,
	`report` text,
	`error` text,
	`hetzner_calls` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `backup_runs_created_idx` ON `backup_runs` (`created_at`,`id`);