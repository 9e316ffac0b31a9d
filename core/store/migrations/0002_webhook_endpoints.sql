-- How each integration's webhooks are authenticated (DESIGN §7): the mode and its secrets,
-- sealed under the master key like credentials (several secrets while one is being rotated),
-- and the URL last registered with the provider.
CREATE TABLE webhook_endpoints (
  integration_id TEXT PRIMARY KEY REFERENCES crm_integrations (id) ON DELETE CASCADE,
  auth TEXT NOT NULL,
  secrets {BLOB} NOT NULL,
  secrets_key_id TEXT NOT NULL,
  registered_url TEXT,
  updated_at BIGINT NOT NULL
);
