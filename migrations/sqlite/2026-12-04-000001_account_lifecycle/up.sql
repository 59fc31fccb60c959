-- Whether the user proved the address is theirs, and wants notification
-- emails.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN email_notifications BOOLEAN NOT NULL DEFAULT true;

-- One-time tokens sent by email (verification, password reset,
-- unsubscribe). Only a digest is stored: the token itself exists only in
-- the email.
CREATE TABLE account_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT      NOT NULL,
    digest     TEXT      NOT NULL CONSTRAINT account_tokens_digest_unique UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_idx ON account_tokens (expires_at);
