CREATE TABLE `document_summaries` (
	`key` text PRIMARY KEY NOT NULL,
	`model` text NOT NULL,
	`summary` text NOT NULL,
	`created_at` integer NOT NULL
);
