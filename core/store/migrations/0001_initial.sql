-- The first schema. One dialect for both engines; the store substitutes {ID} (an auto-numbered
-- BIGINT key), {JSON} (JSONB or TEXT) and {BLOB} (BYTEA or BLOB). Times are UTC Unix
-- milliseconds (BIGINT) so both engines compare and subtract them the same way.

CREATE TABLE businesses (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  timezone TEXT NOT NULL,
  region TEXT NOT NULL,
  currency TEXT NOT NULL,
  last_sync_at BIGINT,
  created_at BIGINT NOT NULL
);

CREATE TABLE crm_integrations (
  id TEXT PRIMARY KEY,
  business_id TEXT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
  crm_type TEXT NOT NULL,
  settings {JSON} NOT NULL,
  credentials {BLOB},
  credentials_key_id TEXT,
  active BOOLEAN NOT NULL,
  last_sync_at BIGINT,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX crm_integrations_business ON crm_integrations (business_id);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  phone_e164 TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);

CREATE TABLE loyalty_cards (
  business_id TEXT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
  card_number TEXT NOT NULL,
  phone_e164 TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (business_id, card_number)
);

-- Dedup is UNIQUE (business_id, external_id); a deleted integration leaves its sales behind.
CREATE TABLE transactions (
  id {ID},
  business_id TEXT NOT NULL REFERENCES businesses (id),
  integration_id TEXT REFERENCES crm_integrations (id) ON DELETE SET NULL,
  external_id TEXT NOT NULL,
  occurred_at BIGINT NOT NULL,
  amount_minor BIGINT NOT NULL,
  currency TEXT NOT NULL,
  phone_e164 TEXT,
  customer_ref TEXT,
  user_id TEXT REFERENCES users (id),
  description TEXT NOT NULL,
  items {JSON} NOT NULL,
  is_medical BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (business_id, external_id)
);
CREATE INDEX transactions_integration ON transactions (integration_id);
-- Sales waiting for their customer to register.
CREATE INDEX transactions_unmatched_phone ON transactions (phone_e164) WHERE user_id IS NULL;

-- At most one running run per integration: the claim of an integration's sync.
CREATE TABLE sync_runs (
  id {ID},
  integration_id TEXT NOT NULL REFERENCES crm_integrations (id) ON DELETE CASCADE,
  trigger_type TEXT NOT NULL CHECK (trigger_type IN ('schedule', 'manual', 'webhook', 'csv')),
  status TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed', 'abandoned')),
  started_at BIGINT NOT NULL,
  finished_at BIGINT,
  fetched BIGINT NOT NULL DEFAULT 0,
  inserted BIGINT NOT NULL DEFAULT 0,
  duplicates BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  skipped BIGINT NOT NULL DEFAULT 0,
  error_type TEXT,
  error_message TEXT,
  cursor_before TEXT,
  cursor_after TEXT,
  lease_owner TEXT,
  lease_until BIGINT
);
CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (integration_id) WHERE status = 'running';
CREATE INDEX sync_runs_integration ON sync_runs (integration_id, started_at);

CREATE TABLE sync_cursors (
  integration_id TEXT PRIMARY KEY REFERENCES crm_integrations (id) ON DELETE CASCADE,
  cursor TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE integration_logs (
  id {ID},
  business_id TEXT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
  integration_id TEXT REFERENCES crm_integrations (id) ON DELETE SET NULL,
  run_id BIGINT REFERENCES sync_runs (id) ON DELETE SET NULL,
  log_type TEXT NOT NULL CHECK (log_type IN ('success', 'error', 'warning')),
  error_type TEXT,
  message TEXT NOT NULL,
  raw_data {JSON},
  context TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX integration_logs_business ON integration_logs (business_id, id);
CREATE INDEX integration_logs_integration ON integration_logs (integration_id, id);
CREATE INDEX integration_logs_run ON integration_logs (run_id);

-- The three leased queues share their lease columns and their due index.
CREATE TABLE retry_queue (
  id {ID},
  integration_id TEXT NOT NULL REFERENCES crm_integrations (id) ON DELETE CASCADE,
  external_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'permanently_failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  last_error TEXT,
  lease_owner TEXT,
  lease_until BIGINT,
  created_at BIGINT NOT NULL
);
CREATE INDEX retry_queue_due ON retry_queue (status, next_attempt_at);

CREATE TABLE webhook_inbox (
  id {ID},
  integration_id TEXT NOT NULL REFERENCES crm_integrations (id) ON DELETE CASCADE,
  received_at BIGINT NOT NULL,
  headers {JSON} NOT NULL,
  body {BLOB} NOT NULL,
  dedup_key TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'permanently_failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  last_error TEXT,
  lease_owner TEXT,
  lease_until BIGINT,
  UNIQUE (integration_id, dedup_key)
);
CREATE INDEX webhook_inbox_due ON webhook_inbox (status, next_attempt_at);

-- Events for the loyalty module; the payload is built from the transaction when claimed.
CREATE TABLE outbox (
  id {ID},
  transaction_id BIGINT NOT NULL REFERENCES transactions (id),
  event_type TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'permanently_failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  last_error TEXT,
  lease_owner TEXT,
  lease_until BIGINT,
  created_at BIGINT NOT NULL,
  delivered_at BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- One alert per failure streak and kind.
CREATE TABLE alerts (
  id {ID},
  integration_id TEXT NOT NULL REFERENCES crm_integrations (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  streak_id TEXT NOT NULL,
  sent_at BIGINT NOT NULL,
  UNIQUE (integration_id, kind, streak_id)
);

-- Durable key/value state of connectors, written by compare-and-set on version.
CREATE TABLE connector_state (
  integration_id TEXT NOT NULL REFERENCES crm_integrations (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  version BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (integration_id, key)
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  key_hash TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('admin', 'owner')),
  business_id TEXT REFERENCES businesses (id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL
);

-- What the cross-promo and analytics modules read: never medical sales, never phones.
CREATE VIEW analytics_transactions AS
  SELECT id, business_id, integration_id, external_id, occurred_at, amount_minor, currency,
         user_id, created_at
  FROM transactions
  WHERE NOT is_medical;

CREATE VIEW crosspromo_transactions AS
  SELECT id, business_id, integration_id, external_id, occurred_at, amount_minor, currency,
         user_id, created_at
  FROM transactions
  WHERE NOT is_medical AND user_id IS NOT NULL;
