-- Conduit's schema on SQLite. Kept equivalent to ../../postgres (a test
-- compares the two). Timestamps are UTC, written by the application.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT      NOT NULL,
    -- Lower-cased copies, computed in Rust so that both databases fold case
    -- the same way; the unique constraints make names case-insensitive.
    username_key  TEXT      NOT NULL CONSTRAINT users_username_key_unique UNIQUE,
    email         TEXT      NOT NULL,
    email_key     TEXT      NOT NULL CONSTRAINT users_email_key_unique UNIQUE,
    password_hash TEXT      NOT NULL,
    bio           TEXT,
    image         TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE follows (
    follower_id BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
-- Who follows a user (the primary key covers whom a user follows).
CREATE INDEX follows_followee_idx ON follows (followee_id, follower_id);

CREATE TABLE articles (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    slug            TEXT      NOT NULL CONSTRAINT articles_slug_unique UNIQUE,
    title           TEXT      NOT NULL,
    description     TEXT      NOT NULL,
    body            TEXT      NOT NULL,
    author_id       BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Maintained in the same transaction as the favorites rows.
    favorites_count BIGINT    NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
-- Lists by author, newest first.
CREATE INDEX articles_author_idx ON articles (author_id, id);

CREATE TABLE tags (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT   NOT NULL CONSTRAINT tags_name_unique UNIQUE,
    -- Number of articles carrying the tag, maintained with the links.
    articles_count BIGINT NOT NULL DEFAULT 0
);
-- GET /api/tags: tags in use, most used first.
CREATE INDEX tags_popularity_idx ON tags (articles_count, name);

CREATE TABLE article_tags (
    article_id BIGINT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    tag_id     BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (article_id, tag_id)
);
-- Lists by tag, newest first.
CREATE INDEX article_tags_tag_idx ON article_tags (tag_id, article_id);

CREATE TABLE favorites (
    user_id    BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    article_id BIGINT    NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, article_id)
);
-- Deleting an article's favorites by cascade.
CREATE INDEX favorites_article_idx ON favorites (article_id);

CREATE TABLE comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id BIGINT    NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    author_id  BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT      NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Comments of an article, oldest first.
CREATE INDEX comments_article_idx ON comments (article_id, id);
-- Deleting a user's comments by cascade.
CREATE INDEX comments_author_idx ON comments (author_id);
