-- The raw message as the client sent it (Pipelines messages), kept beside the decoded
-- operation so the log can be inspected and re-decoded.
ALTER TABLE event_log ADD COLUMN raw TEXT;
