CREATE TABLE `cron_job_state` (
	`name` text PRIMARY KEY NOT NULL,
	`last_due_at` integer NOT NULL,
	`last_outcome` text NOT NULL,
	`last_tick_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
