-- Identifiers suppressed together (one person's id, email and phone) are freed together.
ALTER TABLE suppressions ADD COLUMN suppression_group TEXT;
CREATE INDEX suppressions_group ON suppressions (workspace_id, suppression_group);
