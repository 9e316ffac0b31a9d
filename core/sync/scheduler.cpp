// The scheduler (see scheduler.h): one Asio thread for the timers, a thread pool for the work.
#include "sync/scheduler.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "base/barrier.h"

namespace crmsync::sync {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

class Scheduler::Impl {
 public:
  Impl(Engine& engine, store::Store& store, SchedulerOptions options, ProcessLog log)
      : engine_(engine),
        store_(store),
        options_(options),
        log_(std::move(log)),
        pool_(options.workers == 0 ? 1 : options.workers),
        tick_(io_),
        random_(std::random_device{}()) {}

  void add_job(PeriodicJob job) { jobs_.push_back(JobState{std::move(job), Clock::now(), false}); }

  void start() {
    const auto now = Clock::now();
    for (JobState& job : jobs_) job.next = now;
    refresh(now);
    schedule_tick();
    timer_thread_ = std::thread([this] { run_timers(); });
  }

  Result<int64_t> trigger(const std::string& integration_id) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return fail(CRMSYNC_E_UNAVAILABLE, "the scheduler is stopping");
      Entry& entry = entries_[integration_id];
      if (entry.in_flight) {
        return fail(CRMSYNC_E_CONFLICT, "integration " + integration_id + " is already syncing");
      }
      entry.in_flight = true;
      ++in_flight_;
    }
    // Claim here, so that the caller learns at once whether the run could start.
    auto claimed = engine_.claim(integration_id, store::RunTrigger::manual);
    if (!claimed) {
      finished(integration_id, false, claimed.error().code == CRMSYNC_E_CONFLICT);
      return claimed.error();
    }
    const int64_t run_id = claimed->run_id;
    asio::post(pool_, [this, claim = std::move(*claimed)] { execute(claim); });
    return run_id;
  }

  void stop(std::chrono::milliseconds grace) {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopping_ = true;
    }
    asio::post(io_, [this] { tick_.cancel(); });
    std::unique_lock lock(mutex_);
    if (!idle_.wait_for(lock, grace, [this] { return in_flight_ == 0; })) {
      lock.unlock();
      log(CRMSYNC_LOG_WARNING, "", "stopping: cancelling the runs still in flight");
      engine_.services().cancel("");
      lock.lock();
      idle_.wait(lock, [this] { return in_flight_ == 0; });
    }
    lock.unlock();
    io_.stop();
    if (timer_thread_.joinable()) timer_thread_.join();
    pool_.join();
    engine_.services().resume("");
    std::lock_guard done(mutex_);
    stopped_ = true;
  }

  SchedulerStats stats() const {
    std::lock_guard lock(mutex_);
    SchedulerStats out = stats_;
    out.runs_in_flight = in_flight_;
    return out;
  }

 private:
  struct Entry {
    Clock::time_point next_due{};
    bool active = false;
    bool in_flight = false;
  };
  struct JobState {
    PeriodicJob job;
    Clock::time_point next;
    bool running = false;
  };

  bool stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  void log(int32_t level, const std::string& integration, const std::string& line) {
    if (log_) log_(level, integration, line);
  }

  // A wait of interval × (1 ± jitter). Called with mutex_ held.
  Clock::duration jittered(Clock::duration base) {
    std::uniform_real_distribution<double> factor(1.0 - options_.jitter, 1.0 + options_.jitter);
    return std::chrono::duration_cast<Clock::duration>(base * factor(random_));
  }

  void schedule_tick() {
    tick_.expires_after(options_.tick);
    tick_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      on_tick();
    });
  }

  // Re-reads the active integrations; new ones get a first run spread over first_run_spread
  // (or at the end of their interval when another host synced them recently).
  void refresh(Clock::time_point now) {
    auto integrations = store_.list_integrations(std::nullopt);
    if (!integrations) {
      log(CRMSYNC_LOG_ERROR, "", "cannot list integrations: " + integrations.error().message);
      return;
    }
    const auto wall_now = std::chrono::system_clock::now();
    std::lock_guard lock(mutex_);
    for (auto& [id, entry] : entries_) entry.active = false;
    for (const store::Integration& integration : *integrations) {
      // CSV imports are started by uploads, not by a schedule.
      if (!integration.active || integration.crm_type == "csv") continue;
      auto [it, added] = entries_.try_emplace(integration.id);
      it->second.active = true;
      if (!added && it->second.next_due != Clock::time_point{}) continue;
      std::uniform_int_distribution<int64_t> spread(0, options_.first_run_spread.count());
      Clock::time_point due = now + std::chrono::milliseconds(spread(random_));
      if (integration.last_sync_at) {
        const auto since =
            std::chrono::duration_cast<std::chrono::milliseconds>(wall_now.time_since_epoch()) -
            integration.last_sync_at->time_since_epoch();
        if (since < options_.interval) due = std::max(due, now + (options_.interval - since));
      }
      it->second.next_due = due;
    }
    last_refresh_ = now;
  }

  void on_tick() {
    const auto now = Clock::now();
    if (now - last_refresh_ >= options_.refresh) refresh(now);
    std::vector<std::string> due;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      for (auto& [id, entry] : entries_) {
        if (!entry.active || entry.in_flight || entry.next_due > now) continue;
        entry.in_flight = true;
        ++in_flight_;
        due.push_back(id);
      }
      for (JobState& job : jobs_) {
        if (job.running || job.next > now) continue;
        job.running = true;
        ++in_flight_;
        asio::post(pool_, [this, &job] { run_job(job); });
      }
    }
    for (const std::string& id : due) {
      asio::post(pool_, [this, id] {
        if (stopping()) return finished(id, false, false);
        auto claimed =
            catch_internal("claim", [&] { return engine_.claim(id, store::RunTrigger::schedule); });
        if (!claimed) {
          const bool conflict = claimed.error().code == CRMSYNC_E_CONFLICT;
          if (!conflict)
            log(CRMSYNC_LOG_ERROR, id, "cannot start a sync: " + claimed.error().message);
          finished(id, false, conflict);
          return;
        }
        execute(*claimed);
      });
    }
    schedule_tick();
  }

  // The timer thread: a tick that throws is logged and the timers go on.
  void run_timers() {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (...) {
        log(CRMSYNC_LOG_ERROR, "", "scheduler: internal error: " + current_exception_text());
      }
    }
  }

  void execute(const Engine::Claim& claim) {
    const std::string& id = claim.integration.id;
    {
      std::lock_guard lock(mutex_);
      ++stats_.runs_started;
    }
    // The run's barrier: whatever escapes it fails this run, not the worker.
    auto report = catch_internal("sync run", [&] { return engine_.execute(claim); });
    bool ok = false;
    if (!report) {
      log(CRMSYNC_LOG_ERROR, id, "sync run failed to record: " + report.error().message);
    } else {
      ok = report->status == store::RunStatus::success;
      log(ok ? CRMSYNC_LOG_INFO : CRMSYNC_LOG_WARNING, id, report->message);
    }
    finished(id, ok, false);
  }

  void run_job(JobState& job) {
    auto done = catch_internal(job.job.name, [&]() -> Result<void> {
      job.job.run();
      return {};
    });
    if (!done) log(CRMSYNC_LOG_ERROR, "", "internal error: " + done.error().message);
    std::lock_guard lock(mutex_);
    job.running = false;
    job.next = Clock::now() + job.job.every;
    if (--in_flight_ == 0) idle_.notify_all();
  }

  // Ends an integration's turn: the next one is an interval away (a lost claim too: another
  // host is syncing it).
  void finished(const std::string& id, bool ok, bool conflict) {
    std::lock_guard lock(mutex_);
    Entry& entry = entries_[id];
    entry.in_flight = false;
    entry.next_due = Clock::now() + jittered(options_.interval);
    if (conflict) {
      ++stats_.runs_conflicted;
    } else if (ok) {
      ++stats_.runs_succeeded;
    } else {
      ++stats_.runs_failed;
    }
    if (--in_flight_ == 0) idle_.notify_all();
  }

  Engine& engine_;
  store::Store& store_;
  SchedulerOptions options_;
  ProcessLog log_;
  asio::io_context io_;
  asio::thread_pool pool_;
  asio::steady_timer tick_;
  std::thread timer_thread_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::map<std::string, Entry> entries_;
  std::vector<JobState> jobs_;  // fixed after start(): run_job keeps references
  std::mt19937_64 random_;
  Clock::time_point last_refresh_{};
  SchedulerStats stats_;
  int64_t in_flight_ = 0;
  bool stopping_ = false;
  bool stopped_ = false;
};

Scheduler::Scheduler(Engine& engine, store::Store& store, SchedulerOptions options, ProcessLog log)
    : impl_(std::make_unique<Impl>(engine, store, options, std::move(log))) {}

Scheduler::~Scheduler() {
  impl_->stop(std::chrono::milliseconds(0));
}

void Scheduler::add_job(PeriodicJob job) {
  impl_->add_job(std::move(job));
}

void Scheduler::start() {
  impl_->start();
}

Result<int64_t> Scheduler::trigger(const std::string& integration_id) {
  return impl_->trigger(integration_id);
}

void Scheduler::stop(std::chrono::milliseconds grace) {
  impl_->stop(grace);
}

SchedulerStats Scheduler::stats() const {
  return impl_->stats();
}

}  // namespace crmsync::sync
