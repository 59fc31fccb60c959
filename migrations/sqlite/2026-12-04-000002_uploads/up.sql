-- Uploaded images: one row per owner and file. Files are content-addressed
-- (`key` is the SHA-256 of the stored bytes and an extension), so the same
-- image is stored once whoever uploads it; the rows say who did, and count
-- against each owner's quota.
CREATE TABLE uploads (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id     BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    file_key     TEXT      NOT NULL,
    size         BIGINT    NOT NULL,
    width        BIGINT    NOT NULL,
    height       BIGINT    NOT NULL,
    thumb_key    TEXT,
    medium_key   TEXT,
    created_at   TIMESTAMP NOT NULL,
    CONSTRAINT uploads_owner_file_unique UNIQUE (owner_id, file_key)
);
CREATE INDEX uploads_file_idx ON uploads (file_key);
