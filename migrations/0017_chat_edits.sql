ALTER TABLE `dead_letters` ADD `content_hash` text;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `superseded_at` integer;--> statement-breakpoint
ALTER TABLE `documents` ADD `indexed_unit_id` text;--> statement-breakpoint
CREATE INDEX `webhook_events_rocketchat_message_idx` ON `webhook_events` ("payload" ->> '$.message_id',`received_at`) WHERE "source" = 'rocketchat';--> statement-breakpoint
-- Documents indexed as they are now are held in their current unit (content_hash covers group_id).
-- Others are unknown: a move of one of those leaves its old unit to the next rebuild of it.
UPDATE `documents` SET `indexed_unit_id` = coalesce(`group_id`, `id`) WHERE `indexed_hash` IS NOT NULL AND `indexed_hash` = `content_hash`;
