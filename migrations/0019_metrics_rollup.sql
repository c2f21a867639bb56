-- Running totals for /api/metrics and /admin (workers/metrics/rollup.ts). Views and triggers are
-- outside drizzle's schema, so this migration is hand-written.
--
-- metric_rows_<table>: what each row of <table> adds to metric_rollups, as (id, at, scope, bucket,
-- series, value); `at` is the row's time column. The metrics cron job folds the rows older than
-- the table's cursor in (SUM per series; MAX for scope 'max'); a scrape adds the rows from the
-- cursor on, read through the same view. A row below the cursor that changes later (an event
-- processed, a question's feedback, a run that finishes, a dead letter replayed) is corrected by
-- the triggers: the row's old contribution taken out before the update, the new one added after.
-- Rows at or above the cursor are left alone (they are not folded yet), so a webhook's own write
-- never fires more than the trigger's WHEN check; and the webhook intake's INSERT has no trigger.
CREATE VIEW `metric_rows_webhook_events` AS
  SELECT `id`, `received_at` AS `at`, 'total' AS `scope`, 0 AS `bucket`, json_array('webhook_events', `source`, `type`, `status`) AS `series`, 1 AS `value` FROM `webhook_events`
  UNION ALL SELECT `id`, `received_at`, 'hour', `received_at` / 3600000, json_array('webhook_hour', `source`), 1 FROM `webhook_events`;
--> statement-breakpoint
CREATE VIEW `metric_bot_queries` AS
  SELECT `id`, `created_at`,
    CASE WHEN `status` = 'pending' THEN 'pending'
      WHEN `status` = 'failed' OR `mode` = 'error' THEN 'failed'
      WHEN `mode` = 'groq' THEN 'answered'
      WHEN `mode` = 'extractive' THEN 'extractive'
      WHEN `mode` = 'refusal' THEN 'refused'
      WHEN `mode` = 'help' THEN 'help'
      ELSE 'failed' END AS `outcome`,
    `feedback`, `prompt_tokens`, `completion_tokens`, `total_ms`
  FROM `bot_queries`;
--> statement-breakpoint
-- One row per contribution, from a JSON array per question (D1 allows five terms in a compound
-- SELECT, so no UNION ALL here). Latency buckets (seconds) are those of BOT_LATENCY_BOUNDS in
-- workers/metrics/series.ts, one row per question in the smallest bucket that holds it; the
-- exposition makes them cumulative.
CREATE VIEW `metric_rows_bot_queries` AS
  SELECT `q`.`id` AS `id`, `q`.`created_at` AS `at`, `c`.`value` ->> '$[0]' AS `scope`, `c`.`value` ->> '$[1]' AS `bucket`,
    `c`.`value` -> '$[2]' AS `series`, `c`.`value` ->> '$[3]' AS `value`
  FROM `metric_bot_queries` `q`, json_each(json_array(
    json_array('total', 0, json_array('bot_questions', `q`.`outcome`), 1),
    json(CASE WHEN `q`.`feedback` IS NOT NULL THEN json_array('total', 0, json_array('bot_feedback', `q`.`feedback`), 1) END),
    json(CASE WHEN `q`.`prompt_tokens` > 0 THEN json_array('total', 0, json_array('bot_tokens', 'prompt'), `q`.`prompt_tokens`) END),
    json(CASE WHEN `q`.`completion_tokens` > 0 THEN json_array('total', 0, json_array('bot_tokens', 'completion'), `q`.`completion_tokens`) END),
    json(CASE WHEN `q`.`outcome` <> 'pending' AND `q`.`total_ms` IS NOT NULL THEN json_array('total', 0, json_array('bot_latency',
      CASE WHEN `q`.`total_ms` <= 500 THEN '0.5' WHEN `q`.`total_ms` <= 1000 THEN '1' WHEN `q`.`total_ms` <= 2000 THEN '2' WHEN `q`.`total_ms` <= 3000 THEN '3'
        WHEN `q`.`total_ms` <= 5000 THEN '5' WHEN `q`.`total_ms` <= 8000 THEN '8' WHEN `q`.`total_ms` <= 13000 THEN '13' WHEN `q`.`total_ms` <= 20000 THEN '20'
        WHEN `q`.`total_ms` <= 30000 THEN '30' WHEN `q`.`total_ms` <= 60000 THEN '60' ELSE '+Inf' END), 1) END),
    json(CASE WHEN `q`.`outcome` <> 'pending' AND `q`.`total_ms` IS NOT NULL THEN json_array('total', 0, json_array('bot_latency_ms_sum'), `q`.`total_ms`) END),
    json_array('day', `q`.`created_at` / 86400000, json_array('bot_day', `q`.`outcome`), 1),
    json(CASE WHEN `q`.`feedback` IS NOT NULL THEN json_array('day', `q`.`created_at` / 86400000, json_array('bot_day_feedback', `q`.`feedback`), 1) END)
  )) `c`
  WHERE `c`.`type` = 'array';
--> statement-breakpoint
CREATE VIEW `metric_rows_backup_runs` AS
  SELECT `id`, `created_at` AS `at`, 'total' AS `scope`, 0 AS `bucket`, json_array('backup_runs', `kind`, `status`) AS `series`, 1 AS `value` FROM `backup_runs`
  UNION ALL SELECT `r`.`id`, `r`.`created_at`, 'total', 0,
      json_array('backup_parts', `r`.`kind`, json_extract(`p`.`value`, '$.name'), CASE WHEN json_extract(`p`.`value`, '$.ok') THEN 'ok' ELSE 'failed' END), 1
    FROM `backup_runs` `r`, json_each(`r`.`parts`) `p`
  UNION ALL SELECT `id`, `created_at`, 'total', 0, json_array('backup_server_ms', `kind`), `server_deleted_at` - `server_created_at` FROM `backup_runs`
    WHERE `server_created_at` IS NOT NULL AND `server_deleted_at` IS NOT NULL
  UNION ALL SELECT `id`, `created_at`, 'max', 0, json_array('backup_last_done', `kind`), `finished_at` FROM `backup_runs` WHERE `status` = 'done' AND `finished_at` IS NOT NULL;
--> statement-breakpoint
CREATE VIEW `metric_rows_dead_letters` AS
  SELECT `id`, `dead_at` AS `at`, 'total' AS `scope`, 0 AS `bucket`, json_array('dead_letters', `queue`) AS `series`, 1 AS `value` FROM `dead_letters`
  UNION ALL SELECT `id`, `dead_at`, 'total', 0, json_array('dead_letters_open', `queue`), 1 FROM `dead_letters` WHERE `replayed_at` IS NULL AND `superseded_at` IS NULL;
--> statement-breakpoint
-- Every row older than 0 is folded: nothing yet. The first runs of the cron job fold the history.
INSERT INTO `metric_rollup_cursors` (`source`, `rolled_until`, `updated_at`) VALUES ('webhook_events', 0, 0), ('bot_queries', 0, 0), ('backup_runs', 0, 0), ('dead_letters', 0, 0);
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_webhook_events_before_update` BEFORE UPDATE OF `status` ON `webhook_events`
WHEN OLD.`received_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'webhook_events') AND (OLD.`status` IS NOT NEW.`status`)
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, -`value` FROM `metric_rows_webhook_events` WHERE `id` = OLD.`id` AND `scope` <> 'max'
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = `value` + excluded.`value`;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_webhook_events_after_update` AFTER UPDATE OF `status` ON `webhook_events`
WHEN OLD.`received_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'webhook_events') AND (OLD.`status` IS NOT NEW.`status`)
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, `value` FROM `metric_rows_webhook_events` WHERE `id` = NEW.`id`
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = CASE WHEN excluded.`scope` = 'max' THEN max(`value`, excluded.`value`) ELSE `value` + excluded.`value` END;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_webhook_events_before_delete` BEFORE DELETE ON `webhook_events`
WHEN OLD.`received_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'webhook_events')
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, -`value` FROM `metric_rows_webhook_events` WHERE `id` = OLD.`id` AND `scope` <> 'max'
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = `value` + excluded.`value`;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_bot_queries_before_update` BEFORE UPDATE OF `status`, `mode`, `feedback`, `prompt_tokens`, `completion_tokens`, `total_ms` ON `bot_queries`
WHEN OLD.`created_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'bot_queries') AND (OLD.`status` IS NOT NEW.`status` OR OLD.`mode` IS NOT NEW.`mode` OR OLD.`feedback` IS NOT NEW.`feedback` OR OLD.`prompt_tokens` IS NOT NEW.`prompt_tokens` OR OLD.`completion_tokens` IS NOT NEW.`completion_tokens` OR OLD.`total_ms` IS NOT NEW.`total_ms`)
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, -`value` FROM `metric_rows_bot_queries` WHERE `id` = OLD.`id` AND `scope` <> 'max'
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = `value` + excluded.`value`;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_bot_queries_after_update` AFTER UPDATE OF `status`, `mode`, `feedback`, `prompt_tokens`, `completion_tokens`, `total_ms` ON `bot_queries`
WHEN OLD.`created_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'bot_queries') AND (OLD.`status` IS NOT NEW.`status` OR OLD.`mode` IS NOT NEW.`mode` OR OLD.`feedback` IS NOT NEW.`feedback` OR OLD.`prompt_tokens` IS NOT NEW.`prompt_tokens` OR OLD.`completion_tokens` IS NOT NEW.`completion_tokens` OR OLD.`total_ms` IS NOT NEW.`total_ms`)
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, `value` FROM `metric_rows_bot_queries` WHERE `id` = NEW.`id`
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = CASE WHEN excluded.`scope` = 'max' THEN max(`value`, excluded.`value`) ELSE `value` + excluded.`value` END;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_bot_queries_before_delete` BEFORE DELETE ON `bot_queries`
WHEN OLD.`created_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'bot_queries')
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, -`value` FROM `metric_rows_bot_queries` WHERE `id` = OLD.`id` AND `scope` <> 'max'
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = `value` + excluded.`value`;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_backup_runs_before_update` BEFORE UPDATE OF `status`, `parts`, `server_created_at`, `server_deleted_at`, `finished_at` ON `backup_runs`
WHEN OLD.`created_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'backup_runs') AND (OLD.`status` IS NOT NEW.`status` OR OLD.`parts` IS NOT NEW.`parts` OR OLD.`server_created_at` IS NOT NEW.`server_created_at` OR OLD.`server_deleted_at` IS NOT NEW.`server_deleted_at` OR OLD.`finished_at` IS NOT NEW.`finished_at`)
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, -`value` FROM `metric_rows_backup_runs` WHERE `id` = OLD.`id` AND `scope` <> 'max'
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = `value` + excluded.`value`;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_backup_runs_after_update` AFTER UPDATE OF `status`, `parts`, `server_created_at`, `server_deleted_at`, `finished_at` ON `backup_runs`
WHEN OLD.`created_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'backup_runs') AND (OLD.`status` IS NOT NEW.`status` OR OLD.`parts` IS NOT NEW.`parts` OR OLD.`server_created_at` IS NOT NEW.`server_created_at` OR OLD.`server_deleted_at` IS NOT NEW.`server_deleted_at` OR OLD.`finished_at` IS NOT NEW.`finished_at`)
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, `value` FROM `metric_rows_backup_runs` WHERE `id` = NEW.`id`
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = CASE WHEN excluded.`scope` = 'max' THEN max(`value`, excluded.`value`) ELSE `value` + excluded.`value` END;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_backup_runs_before_delete` BEFORE DELETE ON `backup_runs`
WHEN OLD.`created_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'backup_runs')
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, -`value` FROM `metric_rows_backup_runs` WHERE `id` = OLD.`id` AND `scope` <> 'max'
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = `value` + excluded.`value`;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_dead_letters_before_update` BEFORE UPDATE OF `replayed_at`, `superseded_at` ON `dead_letters`
WHEN OLD.`dead_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'dead_letters') AND (OLD.`replayed_at` IS NOT NEW.`replayed_at` OR OLD.`superseded_at` IS NOT NEW.`superseded_at`)
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, -`value` FROM `metric_rows_dead_letters` WHERE `id` = OLD.`id` AND `scope` <> 'max'
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = `value` + excluded.`value`;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_dead_letters_after_update` AFTER UPDATE OF `replayed_at`, `superseded_at` ON `dead_letters`
WHEN OLD.`dead_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'dead_letters') AND (OLD.`replayed_at` IS NOT NEW.`replayed_at` OR OLD.`superseded_at` IS NOT NEW.`superseded_at`)
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, `value` FROM `metric_rows_dead_letters` WHERE `id` = NEW.`id`
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = CASE WHEN excluded.`scope` = 'max' THEN max(`value`, excluded.`value`) ELSE `value` + excluded.`value` END;
END;
--> statement-breakpoint
CREATE TRIGGER `metric_rollup_dead_letters_before_delete` BEFORE DELETE ON `dead_letters`
WHEN OLD.`dead_at` < (SELECT `rolled_until` FROM `metric_rollup_cursors` WHERE `source` = 'dead_letters')
BEGIN
  INSERT INTO `metric_rollups` (`scope`, `bucket`, `series`, `value`)
    SELECT `scope`, `bucket`, `series`, -`value` FROM `metric_rows_dead_letters` WHERE `id` = OLD.`id` AND `scope` <> 'max'
    ON CONFLICT (`scope`, `bucket`, `series`) DO UPDATE SET `value` = `value` + excluded.`value`;
END;
