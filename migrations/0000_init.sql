CREATE TABLE `aircall_calls` (
	`id` integer PRIMARY KEY NOT NULL,
	`direction` text,
	`status` text,
	`started_at` integer,
	`answered_at` integer,
	`ended_at` integer,
	`duration_seconds` integer,
	`missed_call_reason` text,
	`hangup_cause` text,
	`user_id` integer,
	`user_name` text,
	`number_id` integer,
	`number_digits` text,
	`number_name` text,
	`external_number` text,
	`contact_id` integer,
	`contact_name` text,
	`tags` text DEFAULT '[]' NOT NULL,
	`comments` text DEFAULT '[]' NOT NULL,
	`has_voicemail` integer DEFAULT false NOT NULL,
	`has_recording` integer DEFAULT false NOT NULL,
	`archived` integer DEFAULT false NOT NULL,
	`transcription` text,
	`summary` text,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `aircall_contacts` (
	`id` integer PRIMARY KEY NOT NULL,
	`first_name` text,
	`last_name` text,
	`company_name` text,
	`information` text,
	`emails` text DEFAULT '[]' NOT NULL,
	`phone_numbers` text DEFAULT '[]' NOT NULL,
	`deleted` integer DEFAULT false NOT NULL,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `aircall_numbers` (
	`id` integer PRIMARY KEY NOT NULL,
	`name` text,
	`digits` text,
	`country` text,
	`time_zone` text,
	`open` integer,
	`availability_status` text,
	`deleted` integer DEFAULT false NOT NULL,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `aircall_users` (
	`id` integer PRIMARY KEY NOT NULL,
	`name` text,
	`email` text,
	`available` integer,
	`availability_status` text,
	`language` text,
	`deleted` integer DEFAULT false NOT NULL,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `documents` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`entity_id` text NOT NULL,
	`text` text NOT NULL,
	`content_hash` text NOT NULL,
	`enqueued_hash` text,
	`entity_version` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `documents_pending_idx` ON `documents` (`enqueued_hash`,`content_hash`);--> statement-breakpoint
CREATE TABLE `guesty_guests` (
	`id` text PRIMARY KEY NOT NULL,
	`full_name` text,
	`first_name` text,
	`last_name` text,
	`emails` text DEFAULT '[]' NOT NULL,
	`phones` text DEFAULT '[]' NOT NULL,
	`deleted` integer DEFAULT false NOT NULL,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `guesty_listings` (
	`id` text PRIMARY KEY NOT NULL,
	`title` text,
	`nickname` text,
	`address` text,
	`city` text,
	`country` text,
	`property_type` text,
	`bedrooms` integer,
	`bathrooms` integer,
	`accommodates` integer,
	`active` integer,
	`deleted` integer DEFAULT false NOT NULL,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `guesty_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`conversation_id` text,
	`reservation_id` text,
	`guest_id` text,
	`guest_name` text,
	`direction` text NOT NULL,
	`channel` text,
	`body` text,
	`sent_at` text,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `guesty_messages_conversation_idx` ON `guesty_messages` (`conversation_id`);--> statement-breakpoint
CREATE INDEX `guesty_messages_reservation_idx` ON `guesty_messages` (`reservation_id`);--> statement-breakpoint
CREATE TABLE `guesty_reservations` (
	`id` text PRIMARY KEY NOT NULL,
	`confirmation_code` text,
	`status` text,
	`check_in` text,
	`check_out` text,
	`nights_count` integer,
	`guests_count` integer,
	`listing_id` text,
	`listing_name` text,
	`guest_id` text,
	`guest_name` text,
	`channel` text,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `guesty_reservations_listing_idx` ON `guesty_reservations` (`listing_id`);--> statement-breakpoint
CREATE INDEX `guesty_reservations_guest_idx` ON `guesty_reservations` (`guest_id`);--> statement-breakpoint
CREATE TABLE `guesty_tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`title` text,
	`description` text,
	`status` text,
	`task_type` text,
	`listing_id` text,
	`reservation_id` text,
	`assignee_id` text,
	`start_time` text,
	`end_time` text,
	`deleted` integer DEFAULT false NOT NULL,
	`order_key` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `webhook_events` (
	`id` text PRIMARY KEY NOT NULL,
	`source` text NOT NULL,
	`type` text NOT NULL,
	`received_at` integer NOT NULL,
	`status` text DEFAULT 'received' NOT NULL,
	`payload` text NOT NULL,
	`error` text,
	`processed_at` integer
);
--> statement-breakpoint
CREATE INDEX `webhook_events_received_idx` ON `webhook_events` (`received_at`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_events_source_type_idx` ON `webhook_events` (`source`,`type`,`received_at`);--> statement-breakpoint
CREATE INDEX `webhook_events_status_idx` ON `webhook_events` (`status`,`received_at`);