CREATE TABLE `groq_model_outages` (
	`variable` text NOT NULL,
	`model` text NOT NULL,
	`code` text NOT NULL,
	`since` integer NOT NULL,
	`checked_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `groq_model_outages_variable_model` ON `groq_model_outages` (`variable`,`model`);--> statement-breakpoint
CREATE TABLE `summary_backlog` (
	`unit_id` text PRIMARY KEY NOT NULL,
	`document_id` text NOT NULL,
	`model` text NOT NULL,
	`since` integer NOT NULL
);
