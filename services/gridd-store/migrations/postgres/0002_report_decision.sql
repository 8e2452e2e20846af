-- The router's decision for each report (an encoded DispatchDecision), recorded once: a
-- report replayed after a crash or a rebalance gets the same decision again.
ALTER TABLE reports ADD COLUMN decision BYTEA;
