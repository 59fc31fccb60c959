-- Counters that let article lists report their totals without counting rows:
-- per author (the author filter and the feed) and overall (the unfiltered
-- list). Maintained in the same transaction as the articles they count.
ALTER TABLE users ADD COLUMN articles_count BIGINT NOT NULL DEFAULT 0;
UPDATE users SET articles_count = (SELECT COUNT(*) FROM articles WHERE articles.author_id = users.id);

CREATE TABLE counters (
    name  TEXT   NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) SELECT 'articles', COUNT(*) FROM articles;
