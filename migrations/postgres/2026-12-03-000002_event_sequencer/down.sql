DROP FUNCTION conduit_sequence_events(BIGINT);
