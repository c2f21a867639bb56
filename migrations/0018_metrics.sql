CREATE TABLE `alerts` (
	`id` text PRIMARY KEY NOT NULL,
	`at` integer NOT NULL,
	`message` text NOT NULL,
	`fields` text NOT NULL,
	`delivery` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `alerts_at_idx` ON `alerts` (`at`);--> statement-breakpoint
CREATE INDEX `alerts_message_idx` ON `alerts` (`message`,`at`);--> statement-breakpoint
CREATE TABLE `metric_rollup_cursors` (
	`source` text PRIMARY KEY NOT NULL,
	`rolled_until` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `metric_rollups` (
	`scope` text NOT NULL,
	`bucket` integer NOT NULL,
	`series` text NOT NULL,
	`value` integer NOT NULL,
	PRIMARY KEY(`scope`, `bucket`, `series`)
);
--> statement-breakpoint
CREATE INDEX `dead_letters_dead_at_idx` ON `dead_letters` (`dead_at`);