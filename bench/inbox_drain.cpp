// Webhook inbox benchmark (not a test): how fast the inbox workers turn stored webhooks into
// sales. --count webhooks (the body of make_webhook.py, a YCLIENTS record event) are stored in a
// fresh SQLite inbox, then --workers threads call Engine::process_inbox(limit) until it is empty,
// as `crmsync serve`'s inbox workers do; nothing else runs meanwhile.
//
//   build/bench/inbox_drain --body DIR/webhook_body.json [--count 50000] [--limits 16,128]
//                           [--workers 2] [--distinct] [--group-sizes 16,64,128,256]
//
// Prints, per claim size: wall time, webhooks/s, CPU time and CPU per webhook. --distinct gives
// every webhook its own paid record (a new sale each) instead of the same event over and over.
// --group-sizes also times the write transaction of one group of that many webhooks.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "cpu_time.h"
#include "support/temp_dir.h"
#include "sync/engine.h"

namespace {

using namespace crmsync;
using Seconds = std::chrono::duration<double>;

using bench::cpu_seconds;

template <class T>
T need(Result<T> done, const char* what) {
  if (!done) throw std::runtime_error(std::string(what) + ": " + done.error().message);
  if constexpr (!std::is_void_v<T>) return std::move(*done);
}

store::Timestamp system_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// A fresh SQLite store with one YCLIENTS integration and an engine over it.
struct Rig {
  test::TempDir dir{"crmsync-inbox-bench"};
  std::unique_ptr<store::Store> store;
  plugin_host::PluginHost host;
  std::unique_ptr<sync::StoreHostServices> services;
  std::unique_ptr<sync::Engine> engine;
  crypto::MasterKey key = crypto::generate_master_key().value();

  Rig() {
    store::StorageConfig storage;
    storage.target = (dir / "crmsync.db").string();
    store = need(store::open_store(storage), "open the store");
    if (!host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/yclients.so").ok()) {
      throw std::runtime_error("cannot load yclients.so");
    }
    services = std::make_unique<sync::StoreHostServices>(*store, sync::HttpDefaults{},
                                                         sync::ProcessLog{}, system_now);
    sync::EngineOptions options;
    options.owner = "bench";
    options.master_keys = {key};
    options.now = system_now;
    engine = std::make_unique<sync::Engine>(*store, host, *services, options);
    store::Business business;
    business.id = "bench";
    business.name = "bench";
    need(store->add_business(business), "add the business");
    const std::string settings =
        nlohmann::json{{"company_id", 512034}, {"partner_token", "p"}, {"user_token", "u"}}.dump();
    auto split = need(sync::seal_settings(*host.find("yclients"), settings, &key), "settings");
    store::Integration integration;
    integration.id = "bench-yclients";
    integration.business_id = "bench";
    integration.crm_type = "yclients";
    integration.settings_json = split.first;
    integration.credentials = split.second;
    need(store->create_integration(integration), "add the integration");
  }

  // Stores count webhooks with body (or, distinct, a paid record of its own in each).
  void enqueue(const std::string& body, int count, bool distinct) {
    const nlohmann::json event = nlohmann::json::parse(body);
    std::vector<store::InboxItem> items;
    for (int i = 0; i < count; ++i) {
      store::InboxItem& item = items.emplace_back();
      item.integration_id = "bench-yclients";
      item.received_at = system_now();
      item.headers_json = R"({"content-type":"application/json"})";
      if (distinct) {
        nlohmann::json own = event;
        own["resource_id"] = own["data"]["id"] = 1'000'000 + i;
        own["data"]["attendance"] = 1;
        item.body = own.dump();
      } else {
        item.body = body;
      }
      if (items.size() == 1000 || i + 1 == count) {
        need(store->enqueue_webhooks(items, store::Sync::now), "enqueue");
        items.clear();
      }
    }
  }

  int64_t pending() {
    const auto counts = need(store->ops_counts({}), "queue depths");
    int64_t n = 0;
    for (const store::QueueDepth& depth : counts.queues) n += depth.inbox;
    return n;
  }
};

void drain(const std::string& body, int count, int limit, int workers, bool distinct) {
  Rig rig;
  rig.enqueue(body, count, distinct);
  std::atomic<int64_t> handled{0};
  std::atomic<bool> failed{false};
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (;;) {
        auto done = rig.engine->process_inbox(limit);
        if (!done) {
          std::fprintf(stderr, "process_inbox: %s\n", done.error().message.c_str());
          failed = true;
          return;
        }
        if (done->handled == 0) return;
        handled += done->handled;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double wall = Seconds(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  if (failed) throw std::runtime_error("the drain failed");
  const int64_t left = rig.pending();
  const int64_t sales =
      need(rig.store->integration_stats("bench-yclients", system_now(), std::chrono::hours(24)),
           "statistics")
          .total_transactions;
  std::printf("%6d %8d %8lld %8lld %8lld %8.2f %10.0f %8.2f %10.1f\n", limit, workers,
              static_cast<long long>(handled.load()), static_cast<long long>(left),
              static_cast<long long>(sales), wall, double(handled) / wall, cpu,
              cpu / double(handled) * 1e6);
}

// The write transaction of one group: commit_batch of size new sales with the completion of
// their size webhooks, timed reps times on a store that already holds the drained inbox's rows.
// This is how long a worker holds SQLite's write lock per group, so how long the receiver's
// group commit may wait behind it.
void group_commits(const std::string& body, int size, int reps) {
  Rig rig;
  rig.enqueue(body, 20000, false);
  std::vector<double> took;
  for (int r = 0; r < reps; ++r) {
    rig.enqueue(body, size, false);
    const auto items =
        need(rig.store->claim_webhooks("bench", size, {}, system_now()), "claim webhooks");
    store::Batch batch;
    batch.business_id = "bench";
    batch.integration_id = "bench-yclients";
    batch.now = system_now();
    batch.lease_owner = "bench";
    for (const store::InboxItem& item : items) {
      batch.inbox_done.push_back(item.id);
      store::NormalizedTransaction& sale = batch.transactions.emplace_back();
      sale.external_id = "YCLIENTS-" + std::to_string(item.id);
      sale.occurred_at = batch.now;
      sale.amount_minor = 300000;
      sale.phone_e164 = "+7916" + std::to_string(1000000 + item.id);
      sale.description = "Маникюр с покрытием гель-лак";
    }
    const auto t0 = std::chrono::steady_clock::now();
    need(rig.store->commit_batch(batch), "commit the group");
    took.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(took.begin(), took.end());
  auto at = [&](double q) { return took[std::min(took.size() - 1, size_t(q * took.size()))]; };
  std::printf("%6d %8d %8.3f %8.3f %8.3f %8.3f\n", size, reps, at(0.5), at(0.9), at(0.99),
              took.back());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("crmsync webhook inbox drain benchmark");
  std::string body_path;
  int count = 50000;
  std::vector<int> limits{16, 128};
  int workers = 2;
  bool distinct = false;
  std::vector<int> group_sizes;
  app.add_option("--body", body_path, "The webhook body (make_webhook.py's webhook_body.json)")
      ->required();
  app.add_option("--count", count, "Webhooks to store and drain")->capture_default_str();
  app.add_option("--limits", limits, "Claim sizes to measure")->delimiter(',');
  app.add_option("--workers", workers, "Threads calling process_inbox")->capture_default_str();
  app.add_flag("--distinct", distinct, "Every webhook its own paid record (a new sale)");
  app.add_option("--group-sizes", group_sizes,
                 "Also time the write transaction of groups of these sizes (new sales, webhooks "
                 "completed with them)")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  std::ifstream in(body_path, std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (body.empty()) {
    std::fprintf(stderr, "inbox_drain: cannot read %s\n", body_path.c_str());
    return 1;
  }
  std::printf("%6s %8s %8s %8s %8s %8s %10s %8s %10s\n", "claim", "workers", "handled", "left",
              "sales", "wall s", "webhooks/s", "CPU s", "CPU us/wh");
  try {
    for (const int limit : limits) drain(body, count, limit, workers, distinct);
    if (!group_sizes.empty()) {
      std::printf("\nwrite transaction of one group (ms)\n%6s %8s %8s %8s %8s %8s\n", "group",
                  "commits", "p50", "p90", "p99", "max");
      for (const int size : group_sizes) group_commits(body, size, 200);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inbox_drain: %s\n", e.what());
    return 1;
  }
  return 0;
}
