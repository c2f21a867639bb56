-- Aircall puts its webhook token in every body; it must not sit in stored payloads, where a
-- D1 export or the admin API would hand it to anyone who could then forge webhooks. Strip it
-- from rows stored before intake stopped keeping it. Ids stay as they are (they were the hash
-- of the body with the token; new deliveries are keyed on the body without it).
UPDATE `webhook_events`
SET `payload` = json_remove(`payload`, '$.token')
WHERE `source` = 'aircall' AND json_valid(`payload`) AND json_type(`payload`, '$.token') IS NOT NULL;
