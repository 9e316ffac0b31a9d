// The scheduler of `crmsync serve` (DESIGN §6): every active integration syncs every interval,
// jittered so that a thousand integrations do not all start in the same second, on a bounded pool
// of workers, at most one run per integration at a time; a manual trigger runs one at once.
// Periodic jobs (item retries, outbox delivery, the webhook inbox) run on the same pool.
//
// Timers run on Boost.Asio; the integration list is re-read from the store regularly, so
// integrations added, disabled or synced by another host are picked up without a restart.
#ifndef CRMSYNC_CORE_SYNC_SCHEDULER_H
#define CRMSYNC_CORE_SYNC_SCHEDULER_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "sync/engine.h"

namespace crmsync::sync {

// How often things happen.
struct SchedulerOptions {
  std::chrono::milliseconds interval{std::chrono::minutes(5)};  // between syncs of one integration
  double jitter = 0.1;   // each wait is interval × (1 ± jitter), drawn at random
  uint32_t workers = 4;  // runs and jobs in parallel at most
  std::chrono::milliseconds tick{std::chrono::seconds(1)};      // how often due work is looked for
  std::chrono::milliseconds refresh{std::chrono::seconds(30)};  // re-reading the integrations
  // The first sync of each integration starts within this window after start (spread out).
  std::chrono::milliseconds first_run_spread{std::chrono::seconds(10)};
};

// A job besides syncs, run every `every` on the worker pool (never two of one job at once).
struct PeriodicJob {
  std::string name;
  std::chrono::milliseconds every{std::chrono::seconds(30)};
  std::function<void()> run;
};

// Counters since start.
struct SchedulerStats {
  int64_t runs_started = 0;
  int64_t runs_succeeded = 0;
  int64_t runs_failed = 0;      // failed reports and errors (lost claims excepted)
  int64_t runs_conflicted = 0;  // another host (or run) held the integration
  int64_t runs_in_flight = 0;
};

// Schedules syncs of the store's active integrations through an Engine.
class Scheduler {
 public:
  // engine and store must outlive the scheduler; log may be empty.
  Scheduler(Engine& engine, store::Store& store, SchedulerOptions options, ProcessLog log);
  // Stops with no grace if still running.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Adds a periodic job; only before start().
  void add_job(PeriodicJob job);

  // Starts the timers and workers; returns at once.
  void start();

  // Starts a run of the integration now (trigger manual), bypassing the schedule. CONFLICT when
  // it is running (here or on another host), NOT_FOUND when unknown, INVALID_CONFIG when
  // disabled. Returns the id of the claimed run (its sync_runs row), which then proceeds.
  Result<int64_t> trigger(const std::string& integration_id);

  // Stops scheduling, waits up to grace for runs and jobs in flight, then asks the rest to stop
  // (their runs end abandoned, committed batches kept) and waits for them. Idempotent.
  void stop(std::chrono::milliseconds grace);

  SchedulerStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crmsync::sync

#endif  // CRMSYNC_CORE_SYNC_SCHEDULER_H
