// `crmsync serve [--stop-after SECONDS]`: runs the host: scheduled syncs of every active
// integration, item-level retries and delivery of outbox events to the loyalty module
// (loyalty.url; without it the events wait in the outbox table), until
// SIGTERM or SIGINT (or the given time), then stops gracefully: runs in flight get a grace period
// to finish, the rest are stopped and recorded as abandoned, committed work is kept.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "cli/commands/commands.h"
#include "cli/host.h"
#include "cli/runtime.h"
#include "loyalty/loyalty.h"
#include "sync/scheduler.h"

namespace crmsync::cli {
namespace {

struct Options {
  double stop_after_seconds = 0;
  double grace_seconds = 30;
};

// Waits for SIGTERM or SIGINT, or until the deadline when there is one; returns what happened.
std::string wait_for_stop(double stop_after_seconds) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  if (stop_after_seconds <= 0) {
    int received = 0;
    sigwait(&signals, &received);
    return received == SIGTERM ? "SIGTERM" : "SIGINT";
  }
  timespec timeout{};
  const auto nanos = static_cast<int64_t>(stop_after_seconds * 1e9);
  timeout.tv_sec = static_cast<time_t>(nanos / 1'000'000'000);
  timeout.tv_nsec = static_cast<long>(nanos % 1'000'000'000);
  const int received = sigtimedwait(&signals, nullptr, &timeout);
  if (received < 0) return "--stop-after";
  return received == SIGTERM ? "SIGTERM" : "SIGINT";
}

int run(const Cli& cli, const Options& options) {
  // Block the stop signals in every thread (threads inherit the mask), so that only
  // wait_for_stop receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  auto opened = open_host(*config);
  if (!opened) return report_failure(opened.error().message);
  Host& host = **opened;

  sync::SchedulerOptions schedule;
  schedule.interval = std::chrono::seconds(config->scheduler.interval_seconds);
  schedule.workers = config->scheduler.workers;
  schedule.first_run_spread = std::min<std::chrono::milliseconds>(
      std::chrono::seconds(10), std::chrono::seconds(config->scheduler.interval_seconds));
  sync::Scheduler scheduler(*host.engine, *host.store, schedule, &log_line);
  scheduler.add_job({.name = "retries", .every = std::chrono::seconds(15), .run = [&host] {
                       if (auto done = host.engine->process_retries(100); !done) {
                         log_line(CRMSYNC_LOG_ERROR, "", "retries: " + done.error().message);
                       }
                     }});
  loyalty::DispatcherOptions delivery;
  delivery.url = config->loyalty.url;
  delivery.owner = host.owner;
  auto dispatcher = loyalty::Dispatcher::create(
      *host.store, delivery,
      [](int32_t level, const std::string& line) { log_line(level, "", "loyalty: " + line); });
  if (!dispatcher) return report_failure("loyalty: " + dispatcher.error().message);
  if ((*dispatcher)->enabled()) {
    // Drain the outbox in batches until nothing is due, then wait for the next turn.
    scheduler.add_job({.name = "outbox", .every = std::chrono::seconds(2), .run = [&dispatcher] {
                         for (;;) {
                           auto sent = (*dispatcher)->run_once(now());
                           if (!sent) {
                             log_line(CRMSYNC_LOG_ERROR, "", "loyalty: " + sent.error().message);
                             return;
                           }
                           if (sent->claimed == 0) return;
                         }
                       }});
  }
  scheduler.start();
  log_line(CRMSYNC_LOG_INFO, "",
           "serving: syncs every " + std::to_string(config->scheduler.interval_seconds) + " s on " +
               std::to_string(config->scheduler.workers) + " workers, owner " + host.owner);

  const std::string why = wait_for_stop(options.stop_after_seconds);
  log_line(CRMSYNC_LOG_INFO, "", "stopping (" + why + ")");
  scheduler.stop(std::chrono::milliseconds(static_cast<int64_t>(options.grace_seconds * 1000)));
  const sync::SchedulerStats stats = scheduler.stats();
  log_line(CRMSYNC_LOG_INFO, "",
           "stopped: " + std::to_string(stats.runs_started) + " runs, " +
               std::to_string(stats.runs_succeeded) + " succeeded, " +
               std::to_string(stats.runs_failed) + " failed");
  return kExitOk;
}

}  // namespace

void register_serve(Cli& cli) {
  auto options = std::make_shared<Options>();
  CLI::App* command = cli.add_command("serve", "Run scheduled syncs until SIGTERM or SIGINT",
                                      [&cli, options] { return run(cli, *options); });
  command->add_option("--stop-after", options->stop_after_seconds,
                      "Stop by itself after this many seconds");
  command
      ->add_option("--grace", options->grace_seconds,
                   "Seconds runs in flight may take to finish when stopping")
      ->capture_default_str();
}

}  // namespace crmsync::cli
