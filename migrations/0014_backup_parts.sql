ALTER TABLE `backup_runs` ADD `parts` text;--> statement-breakpoint
ALTER TABLE `backup_runs` ADD `failed_parts` text;--> statement-breakpoint
ALTER TABLE `backup_runs` ADD `version` integer DEFAULT 0 NOT NULL;