-- CSV uploads of the admin API as import jobs (GET /api/v1/imports/{id}), kept across restarts:
-- progress while the job runs, then its counts, summary, error and row report (a JSON array of
-- {row, reason}). The job's host renews lease_until as batches commit; a job still running past
-- it lost its host. Ids come from the database, so they never restart and hosts sharing a
-- PostgreSQL never reuse one another's.
CREATE TABLE import_jobs (
  id {ID},
  business_id TEXT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
  bytes_total BIGINT NOT NULL,
  bytes_read BIGINT NOT NULL DEFAULT 0,
  fetched BIGINT NOT NULL DEFAULT 0,
  inserted BIGINT NOT NULL DEFAULT 0,
  duplicates BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  run_id BIGINT REFERENCES sync_runs (id) ON DELETE SET NULL,
  summary TEXT,
  error TEXT,
  report {JSON} NOT NULL,
  lease_until BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX import_jobs_business ON import_jobs (business_id);
