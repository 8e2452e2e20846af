-- The router's decision for each report (an encoded DispatchDecision), recorded once: a
-- report replayed after a crash or a rebalance gets the same decision again.
ALTER TABLE reports ADD COLUMN decision BYTEA;

-- One reference, one report: two intake processes misconfigured with the same node id (or a
-- clock stepped back) could issue a reference twice; the second report is then refused and
-- its client retries under a new reference, instead of being taken for the first.
CREATE UNIQUE INDEX intake_keys_reference ON intake_keys (reference);
