// The store's metrics collector (see store_metrics.h).
#include "metrics/store_metrics.h"

#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace crmsync::metrics {

namespace {

using RunKey = std::pair<std::string, store::RunStatus>;
using ErrorKey = std::pair<std::string, std::string>;

// Totals of settled rows: everything at or below the watermarks.
struct Totals {
  std::map<RunKey, int64_t> runs;
  std::map<std::string, store::RunCounts> records;
  std::map<ErrorKey, int64_t> errors;

  void add(const store::RunTotals& t) {
    runs[{t.integration_id, t.status}] += t.runs;
    store::RunCounts& r = records[t.integration_id];
    r.fetched += t.counts.fetched;
    r.inserted += t.counts.inserted;
    r.duplicates += t.counts.duplicates;
    r.failed += t.counts.failed;
  }
  void add(const store::ErrorTotals& t) { errors[{t.integration_id, t.error_type}] += t.lines; }
};

// What one collector keeps between scrapes.
struct State {
  std::mutex mutex;  // scrapes of one collector run one at a time
  int64_t runs_after = 0;
  int64_t logs_after = 0;
  Totals settled;
};

CollectedFamily family(const char* name, const char* help, Type type,
                       std::vector<std::string> labels) {
  CollectedFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  f.label_names = std::move(labels);
  return f;
}

std::vector<CollectedFamily> families(const std::vector<store::QueueDepth>& queues,
                                      const Totals& totals) {
  std::vector<CollectedFamily> out;
  out.push_back(family("crmsync_inbox_pending", "Received webhooks not processed yet.", Type::gauge,
                       {"integration"}));
  out.push_back(family("crmsync_retry_pending", "Failed records waiting for their retry.",
                       Type::gauge, {"integration"}));
  out.push_back(family("crmsync_outbox_pending",
                       "Sales not yet delivered to the loyalty module (integration empty: its "
                       "integration was deleted).",
                       Type::gauge, {"integration"}));
  for (const store::QueueDepth& q : queues) {
    out[0].samples.push_back({{q.integration_id}, static_cast<double>(q.inbox)});
    out[1].samples.push_back({{q.integration_id}, static_cast<double>(q.retry)});
    out[2].samples.push_back({{q.integration_id}, static_cast<double>(q.outbox)});
  }
  CollectedFamily runs = family("crmsync_sync_runs_total", "Finished sync runs by status.",
                                Type::counter, {"integration", "status"});
  for (const auto& [key, count] : totals.runs) {
    // A running run is counted once it finishes.
    if (key.second == store::RunStatus::running) continue;
    runs.samples.push_back({{key.first, store::to_string(key.second)}, static_cast<double>(count)});
  }
  out.push_back(std::move(runs));
  struct Records {
    const char* name;
    const char* help;
    int64_t store::RunCounts::*field;
  };
  const Records records[] = {
      {"crmsync_records_fetched_total", "Records read from the CRM by sync runs.",
       &store::RunCounts::fetched},
      {"crmsync_records_inserted_total", "New transactions stored by sync runs.",
       &store::RunCounts::inserted},
      {"crmsync_records_duplicate_total", "Records of sync runs that were already stored.",
       &store::RunCounts::duplicates},
      {"crmsync_records_failed_total", "Records of sync runs that could not be stored.",
       &store::RunCounts::failed},
  };
  for (const Records& r : records) {
    CollectedFamily f = family(r.name, r.help, Type::counter, {"integration"});
    for (const auto& [integration, counts] : totals.records) {
      f.samples.push_back({{integration}, static_cast<double>(counts.*r.field)});
    }
    out.push_back(std::move(f));
  }
  CollectedFamily errors =
      family("crmsync_errors_total", "Error lines of the integrations' logs by error type.",
             Type::counter, {"integration", "error_type"});
  for (const auto& [key, count] : totals.errors) {
    errors.samples.push_back({{key.first, key.second}, static_cast<double>(count)});
  }
  out.push_back(std::move(errors));
  return out;
}

store::Timestamp system_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace

void add_store_metrics(Registry& registry, store::Store& store, StoreMetricsOptions options) {
  if (!options.now) options.now = system_now;
  auto state = std::make_shared<State>();
  registry.add_collector(
      [&store, options = std::move(options), state]() -> Result<std::vector<CollectedFamily>> {
        std::lock_guard lock(state->mutex);
        store::OpsCountsQuery query;
        query.runs_after_id = state->runs_after;
        query.logs_after_id = state->logs_after;
        const store::Timestamp now = options.now();
        query.settled_before = now - options.settle;
        query.stale_before = now - options.stale;
        auto counts = store.ops_counts(query);
        if (!counts) return counts.error();
        for (const store::RunTotals& t : counts->runs) {
          if (t.settled) state->settled.add(t);
        }
        for (const store::ErrorTotals& t : counts->errors) {
          if (t.settled) state->settled.add(t);
        }
        state->runs_after = counts->runs_settled_through;
        state->logs_after = counts->logs_settled_through;
        Totals live = state->settled;
        for (const store::RunTotals& t : counts->runs) {
          if (!t.settled) live.add(t);
        }
        for (const store::ErrorTotals& t : counts->errors) {
          if (!t.settled) live.add(t);
        }
        return families(counts->queues, live);
      });
}

}  // namespace crmsync::metrics
