-- Documents written before 0006 have no search metadata. Until their entity changes again and
-- the document is rebuilt, name them by kind and use their first line (which was a title) as
-- title and header, so the catch-up sweep can index them with some context.
UPDATE `documents` SET
  `source` = CASE WHEN `kind` IN ('call', 'contact') THEN 'aircall' ELSE 'guesty' END,
  `title` = CASE WHEN instr(`text`, char(10)) > 0 THEN substr(`text`, 1, instr(`text`, char(10)) - 1) ELSE `text` END,
  `header` = CASE WHEN instr(`text`, char(10)) > 0 THEN substr(`text`, 1, instr(`text`, char(10)) - 1) ELSE `text` END
WHERE `source` = '';
