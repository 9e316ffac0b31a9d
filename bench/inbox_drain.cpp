// Webhook inbox benchmark (not a test), in two modes.
// - The drain: how fast the inbox workers turn stored webhooks into sales. --count webhooks (the
//   body of make_webhook.py, a YCLIENTS record event) are stored in a fresh SQLite inbox, then
//   --workers threads call Engine::process_inbox(limit) until it is empty, as `crmsync serve`'s
//   inbox workers do; nothing else runs meanwhile.
// - --store-floor: what storing those webhooks costs SQLite itself, in transactions of each
//   given size (see store_floor).
//
//   build/bin/inbox_drain --body DIR/webhook_body.json [--count 50000] [--limits 16,128]
//                         [--workers 2] [--distinct] [--group-sizes 16,64,128,256]
//   build/bin/inbox_drain --body DIR/webhook_body.json --store-floor 8,16,32,64 [--count 50000]
//
// The drain prints, per claim size: wall time, webhooks/s, CPU time and CPU per webhook.
// --distinct gives every webhook its own paid record (a new sale each) instead of the same event
// over and over. --group-sizes also times the write transaction of one group of that many
// webhooks. The floor prints, per transaction size, SQLite's CPU per webhook to commit, to
// fdatasync and to checkpoint.

#include <fcntl.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>
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

// CPU seconds of the calling thread.
double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return double(now.tv_sec) + double(now.tv_nsec) / 1e9;
}

// The log's size in pages after each commit, as crmsync's checkpointer hears it.
int record_log_pages(void* pages, sqlite3*, const char*, int size) {
  *static_cast<int*>(pages) = size;
  return SQLITE_OK;
}

// SQLite's own cost of the rows the webhook receiver stores: the floor under its group commits,
// with no HTTP, no crmsync code and no other thread. count webhooks go into a fresh inbox of
// crmsync's schema, size rows per transaction, through SQLite's C API with the statement and
// connection settings crmsync uses. Each transaction's log is then fdatasynced (the receiver
// syncs once per one or more transactions), and the log is copied back as crmsync's
// checkpointer does (PASSIVE each 1000 new pages, RESTART from 4000); the three are timed
// apart, in this thread's CPU time.
void store_floor(const std::string& body, int count, int size) {
  Rig rig;
  const std::string path = (rig.dir / "crmsync.db").string();
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    throw std::runtime_error("cannot open " + path);
  }
  auto exec = [db](const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string(sql) + ": " + sqlite3_errmsg(db));
    }
  };
  exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-8192;");
  int log_pages = 0;
  sqlite3_wal_hook(db, &record_log_pages, &log_pages);
  sqlite3_stmt* insert = nullptr;
  const char* sql =
      "INSERT INTO webhook_inbox (integration_id, received_at, headers, body, dedup_key, status, "
      "attempts, next_attempt_at) VALUES (?1, ?2, ?3, ?4, NULL, 'pending', 0, ?2) "
      "ON CONFLICT DO NOTHING";
  if (sqlite3_prepare_v2(db, sql, -1, &insert, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string("prepare: ") + sqlite3_errmsg(db));
  }
  const std::string headers = R"({"content-type":"application/json"})";
  const int log_fd = ::open((path + "-wal").c_str(), O_RDONLY | O_CLOEXEC);
  if (log_fd < 0) throw std::runtime_error("cannot open the log of " + path);
  double commit_cpu = 0, sync_cpu = 0, checkpoint_cpu = 0;
  int checkpointed = 0;  // log pages already copied
  const auto t0 = std::chrono::steady_clock::now();
  for (int stored = 0; stored < count; stored += size) {
    double cpu = thread_cpu_seconds();
    const int64_t received_at = system_now().time_since_epoch().count();
    exec("BEGIN IMMEDIATE");
    for (int i = 0; i < size; ++i) {
      sqlite3_bind_text(insert, 1, "bench-yclients", -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 2, received_at);
      sqlite3_bind_text(insert, 3, headers.data(), int(headers.size()), SQLITE_STATIC);
      sqlite3_bind_blob(insert, 4, body.data(), int(body.size()), SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) {
        throw std::runtime_error(std::string("insert: ") + sqlite3_errmsg(db));
      }
      sqlite3_reset(insert);
    }
    exec("COMMIT");
    double next = thread_cpu_seconds();
    commit_cpu += next - cpu;
    cpu = next;
    if (::fdatasync(log_fd) != 0) throw std::runtime_error("fdatasync of the log failed");
    next = thread_cpu_seconds();
    sync_cpu += next - cpu;
    cpu = next;
    if (log_pages - checkpointed >= 1000 || log_pages < checkpointed) {
      const int mode = log_pages >= 4000 ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE;
      if (sqlite3_wal_checkpoint_v2(db, nullptr, mode, nullptr, nullptr) != SQLITE_OK) {
        throw std::runtime_error(std::string("checkpoint: ") + sqlite3_errmsg(db));
      }
      checkpointed = mode == SQLITE_CHECKPOINT_RESTART ? 0 : log_pages;
      checkpoint_cpu += thread_cpu_seconds() - cpu;
    }
  }
  const double wall = Seconds(std::chrono::steady_clock::now() - t0).count();
  ::close(log_fd);
  sqlite3_finalize(insert);
  sqlite3_close_v2(db);
  const double rows = double((count + size - 1) / size * size);
  if (rig.pending() != int64_t(rows)) throw std::runtime_error("the inbox lacks rows");
  std::printf("%6d %10.0f %9.2f %9.2f %9.2f %9.2f\n", size, rows / wall, commit_cpu / rows * 1e6,
              sync_cpu / rows * 1e6, checkpoint_cpu / rows * 1e6,
              (commit_cpu + sync_cpu + checkpoint_cpu) / rows * 1e6);
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
  std::vector<int> floor_sizes;
  app.add_option("--store-floor", floor_sizes,
                 "Instead of the drain, SQLite's own CPU per stored webhook in transactions of "
                 "these sizes")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  std::ifstream in(body_path, std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (body.empty()) {
    std::fprintf(stderr, "inbox_drain: cannot read %s\n", body_path.c_str());
    return 1;
  }
  if (!floor_sizes.empty()) {
    std::printf(
        "SQLite's CPU per stored webhook, us (one thread, nothing else)\n%6s %10s %9s %9s "
        "%9s %9s\n",
        "rows", "webhooks/s", "commit", "fdatasync", "ckpt", "total");
    try {
      for (const int size : floor_sizes) store_floor(body, count, size);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "inbox_drain: %s\n", e.what());
      return 1;
    }
    return 0;
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
