DROP TRIGGER events_numbered;
DROP TABLE job_schedules;
DROP TABLE jobs;
DROP TABLE events;
DELETE FROM counters WHERE name = 'event_ids';
