#include "admin/views.h"

#include <cstdio>
#include <ctime>

#include "base/json.h"

#include "sync/engine.h"

namespace crmsync::admin {

using nlohmann::json;

std::string iso_time(store::Timestamp t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms.count() % 1000));
  return text;
}

json optional_time(const std::optional<store::Timestamp>& t) {
  return t ? json(iso_time(*t)) : json(nullptr);
}

json business_json(const store::Business& b) {
  return {{"id", b.id},
          {"name", b.name},
          {"timezone", b.timezone},
          {"region", b.region},
          {"currency", b.currency},
          {"last_sync_at", optional_time(b.last_sync_at)},
          {"created_at", iso_time(b.created_at)}};
}

json run_json(const store::SyncRun& run) {
  json out = {{"id", run.id},
              {"integration_id", run.integration_id},
              {"trigger", store::to_string(run.trigger)},
              {"status", store::to_string(run.status)},
              {"started_at", iso_time(run.started_at)},
              {"finished_at", optional_time(run.finished_at)},
              {"fetched", run.counts.fetched},
              {"inserted", run.counts.inserted},
              {"duplicates", run.counts.duplicates},
              {"failed", run.counts.failed},
              {"skipped", run.counts.skipped},
              {"error_type", run.error_type.empty() ? json(nullptr) : json(run.error_type)},
              {"error", run.error_message.empty() ? json(nullptr) : json(run.error_message)}};
  switch (run.status) {
    case store::RunStatus::running:
      out["summary"] = "Синхронизация…";
      break;
    case store::RunStatus::success:
      out["summary"] = sync::synced_message(run.counts.inserted);
      break;
    case store::RunStatus::failed:
    case store::RunStatus::abandoned:
      out["summary"] = "❌ " + (run.error_message.empty() ? std::string(store::to_string(run.status))
                                                         : run.error_message);
      break;
  }
  return out;
}

json log_json(const store::LogEntry& line) {
  json raw = nullptr;
  if (!line.raw_json.empty()) {
    raw = parse_json_or_discarded(line.raw_json);
    if (raw.is_discarded()) raw = line.raw_json;
  }
  return {{"id", line.id},
          {"type", store::to_string(line.type)},
          {"error_type", line.error_type.empty() ? json(nullptr) : json(line.error_type)},
          {"message", line.message},
          {"raw_data", raw},
          {"context", line.context.empty() ? json(nullptr) : json(line.context)},
          {"run_id", line.run_id ? json(*line.run_id) : json(nullptr)},
          {"created_at", iso_time(line.created_at)}};
}

json stats_json(const store::IntegrationStats& figures) {
  json daily = json::array();
  for (const store::DayStats& day : figures.days) {
    daily.push_back({{"date", iso_time(day.day).substr(0, 10)},
                     {"synced", day.synced},
                     {"failed_runs", day.failed_runs}});
  }
  return {{"total_transactions", figures.total_transactions},
          {"last_successful_sync", optional_time(figures.last_success)},
          {"success_rate", figures.success_rate},
          {"runs_30d", figures.runs},
          {"failed_syncs_30d", figures.failed_runs},
          {"average_sync_ms",
           figures.average_duration ? json(figures.average_duration->count()) : json(nullptr)},
          {"daily", std::move(daily)}};
}

}  // namespace crmsync::admin
