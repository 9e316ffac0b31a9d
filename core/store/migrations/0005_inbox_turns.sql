-- The inbox claim serves integrations in turns (round-robin across businesses): for each
-- integration it reads the oldest due webhooks through this index instead of the whole pending
-- range, so one business's backlog costs another's claim nothing.
CREATE INDEX webhook_inbox_turns ON webhook_inbox (integration_id, status, next_attempt_at);
