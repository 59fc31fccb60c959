-- A user's tokens carry the version current when they were issued; a
-- password change or a log-out increments it, and every older token is
-- refused from then on.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
