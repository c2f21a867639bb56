ALTER TABLE `aircall_calls` ADD `field_order` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `aircall_contacts` ADD `field_order` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `aircall_numbers` ADD `field_order` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `aircall_users` ADD `field_order` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `guesty_guests` ADD `field_order` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `guesty_listings` ADD `field_order` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `guesty_messages` ADD `field_order` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `guesty_reservations` ADD `field_order` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `guesty_tasks` ADD `field_order` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_events` ADD `sweep_attempts` integer DEFAULT 0 NOT NULL;