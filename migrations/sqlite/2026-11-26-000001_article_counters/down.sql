DROP TABLE counters;
ALTER TABLE users DROP COLUMN articles_count;
