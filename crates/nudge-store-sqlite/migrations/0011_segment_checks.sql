-- Per time-driven segment, the moment time alone next changes a person's answer (a JSON object
-- by segment id), so an evaluation keeps the checks of segments it does not re-evaluate. NULL:
-- recorded before these were kept; the next evaluation of the person covers every segment.

ALTER TABLE person_schedules ADD COLUMN segment_checks TEXT;
