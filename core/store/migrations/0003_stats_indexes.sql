-- Indexes for an integration's statistics over a year of history: synced transactions per day
-- (transactions by integration and creation time; this index also serves every lookup the
-- integration-only index did) and the last successful sync (runs by integration, status and
-- finish time, so MAX(finished_at) is one index probe instead of a scan of the runs).
CREATE INDEX transactions_integration_created ON transactions (integration_id, created_at);
DROP INDEX transactions_integration;
CREATE INDEX sync_runs_integration_status ON sync_runs (integration_id, status, finished_at);
