CREATE TABLE `secret_audit` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`env` text NOT NULL,
	`app` text,
	`version` integer
);
--> statement-breakpoint
CREATE INDEX `secret_audit_env_app` ON `secret_audit` (`env`,`app`,`at`);--> statement-breakpoint
CREATE TABLE `secret_env_keys` (
	`env` text PRIMARY KEY NOT NULL,
	`wrapped` text NOT NULL,
	`kid` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `secret_read_counts` (
	`token_id` text NOT NULL,
	`minute` integer NOT NULL,
	`count` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `secret_read_counts_token_minute` ON `secret_read_counts` (`token_id`,`minute`);--> statement-breakpoint
CREATE TABLE `secret_sets` (
	`env` text NOT NULL,
	`app` text NOT NULL,
	`current_version` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `secret_sets_env_app` ON `secret_sets` (`env`,`app`);--> statement-breakpoint
CREATE TABLE `secret_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`env` text NOT NULL,
	`app` text NOT NULL,
	`token_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `secret_tokens_hash` ON `secret_tokens` (`token_hash`);--> statement-breakpoint
CREATE TABLE `secret_versions` (
	`env` text NOT NULL,
	`app` text NOT NULL,
	`version` integer NOT NULL,
	`hmacs` text NOT NULL,
	`kv_key` text NOT NULL,
	`actor` text NOT NULL,
	`restored_from` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `secret_versions_env_app_version` ON `secret_versions` (`env`,`app`,`version`);