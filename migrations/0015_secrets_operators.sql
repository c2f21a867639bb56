CREATE TABLE `admin_sessions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `admin_sessions_expires` ON `admin_sessions` (`expires_at`);--> statement-breakpoint
ALTER TABLE `secret_audit` ADD `detail` text;--> statement-breakpoint
ALTER TABLE `secret_versions` ADD `kid` text;