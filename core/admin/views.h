// How the admin API and the CLI's --json output show the store's rows: one JSON shape per kind,
// so `crmsync logs --json` prints what GET /api/v1/integrations/{id}/logs returns.
#ifndef CRMSYNC_CORE_ADMIN_VIEWS_H
#define CRMSYNC_CORE_ADMIN_VIEWS_H

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "store/store.h"

namespace crmsync::admin {

// "2025-11-17T12:00:00.000Z".
std::string iso_time(store::Timestamp t);
// iso_time or null.
nlohmann::json optional_time(const std::optional<store::Timestamp>& t);

// {id, name, timezone, region, currency, last_sync_at, created_at}.
nlohmann::json business_json(const store::Business& business);
// A run with its counters and the admin-facing summary ("✅ Синхронизировано 12 транзакций",
// "Синхронизация…" while running, "❌ <error>").
nlohmann::json run_json(const store::SyncRun& run);
// A log line; raw_data is the offending object (JSON when it parses, else its text).
nlohmann::json log_json(const store::LogEntry& line);
// The spec's statistics: total, last successful sync, success rate, failed syncs and runs over
// 30 days, average sync time in ms.
nlohmann::json stats_json(const store::IntegrationStats& figures);

}  // namespace crmsync::admin

#endif  // CRMSYNC_CORE_ADMIN_VIEWS_H
