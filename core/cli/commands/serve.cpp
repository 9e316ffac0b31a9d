// `crmsync serve [--stop-after SECONDS]`: runs the host: the HTTP listener (server.listen and
// server.port) receiving webhooks and serving the admin API, the workers mapping them into sales,
// scheduled syncs of every active integration, item-level retries, webhook registration with the
// CRMs (when server.public_url is set) and delivery of outbox events to the loyalty module
// (loyalty.url; without it the events wait in the outbox table), until SIGTERM or SIGINT (or the
// given time), then stops gracefully: the listener drains requests in flight, runs in flight get a
// grace period to finish, the rest are stopped and recorded as abandoned, committed work is kept.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include <filesystem>

#include "admin/api.h"
#include "cli/commands/commands.h"
#include "cli/host.h"
#include "cli/runtime.h"
#include "loyalty/loyalty.h"
#include "metrics/store_metrics.h"
#include "panel/panel.h"
#include "server/server.h"
#include "sync/scheduler.h"
#include "webhooks/receiver.h"

namespace crmsync::cli {
namespace serve_command {

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

// Keeps every integration's webhook registered with its CRM while it is active and removed
// while it is not, checked at start and every minute. Without a public URL nothing can be
// registered: integrations that could take webhooks are told to rely on polling.
void add_webhook_registration(sync::Scheduler& scheduler, Host& host,
                              const std::string& public_url) {
  auto webhook_capable = [&host] {
    std::vector<store::Integration> out;
    auto integrations = host.store->list_integrations(std::nullopt);
    if (!integrations) {
      log_line(CRMSYNC_LOG_ERROR, "", "webhooks: " + integrations.error().message);
      return out;
    }
    for (auto& integration : *integrations) {
      const plugin_host::Connector* connector = host.plugins->find(integration.crm_type);
      if (connector && (connector->descriptor().capabilities & CRMSYNC_CAP_WEBHOOK)) {
        out.push_back(std::move(integration));
      }
    }
    return out;
  };
  if (public_url.empty()) {
    for (const auto& integration : webhook_capable()) {
      if (integration.active) {
        log_line(CRMSYNC_LOG_INFO, integration.id,
                 "webhooks off, polling only (server.public_url is not set)");
      }
    }
    return;
  }
  scheduler.add_job({.name = "webhook registration",
                     .every = std::chrono::minutes(1),
                     .run = [&host, public_url, webhook_capable] {
                       for (const auto& integration : webhook_capable()) {
                         auto changed = host.engine->reconcile_webhook(integration.id, public_url);
                         if (!changed && changed.error().code != CRMSYNC_E_UNSUPPORTED) {
                           log_line(CRMSYNC_LOG_WARNING, integration.id,
                                    "webhook registration: " + changed.error().message);
                         }
                       }
                     }});
}

int run(const Cli& cli, const Options& options) {
  // Block the stop signals in every thread (threads inherit the mask), so that only
  // wait_for_stop receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Under webhook load the threads free request buffers all the time; glibc hands freed memory
  // back to the kernel with madvise as soon as 128 KiB are free at the top of an arena, and each
  // madvise interrupts every core to flush TLBs (41% of the process's time when profiled under
  // wrk). Keeping up to 64 MiB free per arena costs a little memory and none of that.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);

  auto config = cli.load_config();
  if (!config) return report_failure(config.error().message);
  auto opened = open_host(*config);
  if (!opened) return report_failure(opened.error().message);
  Host& host = **opened;

  // Webhooks: received and stored durably by the listener, mapped by the inbox workers.
  webhooks::InboxWorkers inbox(
      *host.engine,
      {.threads = static_cast<int>(config->server.webhook_workers),
       .poll = std::chrono::seconds(1),
       .max_lag = std::chrono::seconds(config->server.webhook_max_lag_seconds),
       .log = [](int32_t level, const std::string& line) { log_line(level, "", line); }});
  webhooks::ReceiverOptions receiving;
  receiving.on_stored = [&inbox] { inbox.wake(); };
  receiving.log = [](int32_t level, const std::string& line) { log_line(level, "", line); };
  auto receiver = std::make_unique<webhooks::Receiver>(*host.store, host.keys, receiving);
  server::Router router;
  receiver->add_routes(router);
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
  add_webhook_registration(scheduler, host, config->server.public_url);

  // The admin API on the same listener; manual syncs go through the scheduler.
  auto schema_version = host.store->schema_version();
  if (!schema_version) return report_failure(schema_version.error().message);
  admin::ApiOptions api_options;
  api_options.csv_connector = std::filesystem::path(config->plugins.dir) / "csv.so";
  api_options.upload_dir = std::filesystem::temp_directory_path();
  api_options.max_csv_bytes = config->server.max_upload_bytes;
  api_options.address_policy = host.address_policy;
  api_options.workers = static_cast<int>(config->server.api_workers);
  api_options.owner = host.owner;
  api_options.now = now;
  api_options.trigger = [&scheduler](const std::string& id) { return scheduler.trigger(id); };
  api_options.expected_schema_version = *schema_version;
  metrics::StoreMetricsOptions store_metrics;
  store_metrics.now = now;
  metrics::add_store_metrics(*host.metrics, *host.store, store_metrics);
  metrics::add_callback(
      *host.metrics, "crmsync_webhook_requests_total", "Webhook requests by result.",
      metrics::Type::counter, {"result"}, [&receiver] {
        const webhooks::ReceiverStats s = receiver->stats();
        return std::vector<metrics::Sample>{{{"accepted"}, static_cast<double>(s.accepted)},
                                            {{"duplicate"}, static_cast<double>(s.duplicates)},
                                            {{"unauthorized"}, static_cast<double>(s.unauthorized)},
                                            {{"not_found"}, static_cast<double>(s.not_found)},
                                            {{"unavailable"}, static_cast<double>(s.unavailable)}};
      });
  metrics::add_callback(
      *host.metrics, "crmsync_webhook_inbox_writes_total",
      "Group commits of received webhooks, and the fsyncs that made them durable.",
      metrics::Type::counter, {"kind"}, [&receiver] {
        const webhooks::ReceiverStats s = receiver->stats();
        return std::vector<metrics::Sample>{{{"commit"}, static_cast<double>(s.commits)},
                                            {{"sync"}, static_cast<double>(s.syncs)}};
      });
  // Read from the store, not from the workers' passes: a webhook stuck in a long mapping, or
  // claimed by another host, counts as long as it is not processed.
  metrics::add_callback(
      *host.metrics, "crmsync_webhook_mapping_lag_seconds",
      "How long the oldest webhook not yet processed (new, being mapped or waiting for a retry) "
      "has waited since it was received; 0 when none is pending.",
      metrics::Type::gauge, {}, [&host] {
        auto oldest = host.store->oldest_pending_webhook();
        if (!oldest) return std::vector<metrics::Sample>{};
        const std::chrono::duration<double> lag =
            *oldest ? std::max(now() - **oldest, std::chrono::milliseconds(0))
                    : std::chrono::milliseconds(0);
        return std::vector<metrics::Sample>{{{}, lag.count()}};
      });
  metrics::add_callback(
      *host.metrics, "crmsync_webhook_mapping_pauses_total",
      "Passes of the inbox workers followed by a pause, leaving the cores to the receiver during "
      "a burst.",
      metrics::Type::counter, {}, [&inbox] {
        return std::vector<metrics::Sample>{{{}, static_cast<double>(inbox.stats().paused)}};
      });
  api_options.metrics = [&host] { return host.metrics->render(); };
  auto api = std::make_unique<admin::Api>(*host.store, *host.plugins, *host.engine, host.keys,
                                          std::move(api_options));
  api->add_routes(router);
  panel::add_routes(router);

  server::ServerOptions listening;
  listening.address = config->server.listen;
  listening.port = config->server.port;
  listening.threads = static_cast<int>(config->server.threads);
  listening.body_limit = config->server.max_body_bytes;
  listening.max_connections = config->server.max_connections;
  listening.max_inflight_body_bytes = config->server.max_inflight_body_bytes;
  auto listener = server::Server::start(listening, std::move(router));
  if (!listener) return report_failure(listener.error().message);
  log_line(CRMSYNC_LOG_INFO, "",
           "listening on " + config->server.listen + ":" + std::to_string((*listener)->port()));

  scheduler.start();
  log_line(CRMSYNC_LOG_INFO, "",
           "serving: syncs every " + std::to_string(config->scheduler.interval_seconds) + " s on " +
               std::to_string(config->scheduler.workers) + " workers, owner " + host.owner);

  const std::string why = wait_for_stop(options.stop_after_seconds);
  log_line(CRMSYNC_LOG_INFO, "", "stopping (" + why + ")");
  // Requests in flight are answered (their webhooks committed) before anything else stops.
  (*listener)->stop(std::chrono::seconds(5));
  api.reset();
  receiver.reset();
  inbox.stop();
  scheduler.stop(std::chrono::milliseconds(static_cast<int64_t>(options.grace_seconds * 1000)));
  const sync::SchedulerStats stats = scheduler.stats();
  log_line(CRMSYNC_LOG_INFO, "",
           "stopped: " + std::to_string(stats.runs_started) + " runs, " +
               std::to_string(stats.runs_succeeded) + " succeeded, " +
               std::to_string(stats.runs_failed) + " failed");
  return kExitOk;
}

}  // namespace serve_command

void register_serve(Cli& cli) {
  using namespace serve_command;
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
