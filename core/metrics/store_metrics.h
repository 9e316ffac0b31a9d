// Metrics read from the store at scrape time: queue depths, sync runs and their record counters,
// error lines by type (the families listed in metrics.h).
//
// Runs and log lines are counted incrementally: totals of settled rows are kept in memory with
// the highest id they cover, and each scrape reads only rows above it (Store::ops_counts), so a
// scrape costs the same with a year of history as with a day. The first scrape after start
// reads the whole history once. Every host on one PostgreSQL reports the same database totals:
// aggregate them with max, not sum.
#ifndef CRMSYNC_CORE_METRICS_STORE_METRICS_H
#define CRMSYNC_CORE_METRICS_STORE_METRICS_H

#include "metrics/metrics.h"
#include "store/store.h"

#include <chrono>
#include <functional>

namespace crmsync::metrics {

// How the store's families are collected.
struct StoreMetricsOptions {
  std::function<store::Timestamp()> now;  // empty: the system clock
  // How old a finished run or a log line must be before its totals are kept in memory: longer
  // than any database transaction lasts, so that no row with a lower id can still commit.
  std::chrono::milliseconds settle{std::chrono::minutes(10)};
  // How long after its lease ended a run still marked running stops holding the watermark back
  // (its host died and nothing restarted the integration). Such a run is not counted in
  // crmsync_sync_runs_total, even if it is marked abandoned later.
  std::chrono::milliseconds stale{std::chrono::hours(24)};
};

// Adds a collector of crmsync_inbox_pending, crmsync_retry_pending, crmsync_outbox_pending,
// crmsync_sync_runs_total, crmsync_records_{fetched,inserted,duplicate,failed}_total and
// crmsync_errors_total. store must outlive the registry's scrapes.
void add_store_metrics(Registry& registry, store::Store& store, StoreMetricsOptions options = {});

}  // namespace crmsync::metrics

#endif  // CRMSYNC_CORE_METRICS_STORE_METRICS_H
