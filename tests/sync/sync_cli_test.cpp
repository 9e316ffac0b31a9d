// `crmsync sync` and `crmsync serve` as a user runs them: the real binary with a config file,
// against crmsim, on the embedded SQLite store; including a process killed in the middle of a sync.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "http/client.h"
#include "sim_process.h"
#include "support/loyalty_receiver.h"
#include "support/ports.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using crmsync::sim::testing::SimProcess;
using crmsync::test::Run;
using crmsync::test::TempDir;

constexpr const char* kKey = "CRMSYNC_TEST_MASTER_KEY";
constexpr const char* kWebhookToken = "test-webhook-token-0123456789";

// A working directory with crmsync.yaml for one YCLIENTS integration of Миндаль.
struct Setup {
  TempDir dir;
  uint16_t port = crmsync::test::closed_port();  // where serve listens
  explicit Setup(const SimProcess& sim, int page_size = 50, int interval = 300,
                 const std::string& loyalty_url = "") {
    setenv(kKey, std::string(64, 'b').c_str(), 1);
    std::ofstream(dir / "crmsync.yaml")
        << "storage: {backend: sqlite, path: crmsync.db}\n"
        << "plugins:\n  dir: " CRMSYNC_PLUGIN_DIR "\n"
        << "  enabled: [yclients]\n"
        << "http: {allow_private: [127.0.0.0/8]}\n"  // crmsim
        << "secrets: {master_key_env: " << kKey << "}\n"
        << (loyalty_url.empty() ? std::string() : "loyalty: {url: " + loyalty_url + "}\n")
        << "scheduler: {interval: " << interval << ", workers: 2, run_lease: 2}\n"
        << "server: {listen: 127.0.0.1, port: " << port << "}\n"
        << "businesses:\n"
        << "  - id: mindal\n    name: Миндаль\n"
        << "    integrations:\n"
        << "      - id: mindal-yclients\n"
        << "        connector: yclients\n"
        << "        settings:\n"
        << "          company_id: 4564\n"
        << "          partner_token: partner-secret\n"
        << "          user_token: user-secret\n"
        << "          base_url: " << sim.url("/yclients") << "\n"
        << "          page_size: " << page_size << "\n"
        << "        webhook: {auth: token, secrets: [" << kWebhookToken << "]}\n";
  }
  Run crmsync(std::vector<std::string> args) {
    args.insert(args.begin(), CRMSYNC_BINARY);
    return crmsync::test::run_process(args, dir.path());
  }
  // Starts crmsync in the background; returns its pid.
  pid_t spawn(std::vector<std::string> args) {
    args.insert(args.begin(), CRMSYNC_BINARY);
    const pid_t pid = crmsync::test::spawn_process(args, dir.path(), dir / "serve.log");
    REQUIRE(pid > 0);
    return pid;
  }
  int64_t scalar(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_stmt* stmt = nullptr;
    int64_t value = -1;
    if (sqlite3_open_v2((dir / "crmsync.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
            SQLITE_OK &&
        sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }
};

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("crmsync sync prints the spec's summary and counts; a second run finds nothing new") {
  SimProcess sim({"--records", "120"});
  Setup setup(sim);
  Run first = setup.crmsync({"sync", "--integration", "mindal-yclients"});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(first.out.starts_with("✅ Синхронизировано "));
  CHECK(first.out.find("fetched 120, new ") != std::string::npos);
  const int64_t stored = setup.scalar("SELECT COUNT(*) FROM transactions");
  CHECK(stored > 0);
  CHECK(first.out.find("new " + std::to_string(stored) + ",") != std::string::npos);

  Run second = setup.crmsync({"sync", "--integration", "mindal-yclients", "--json"});
  REQUIRE(second.exit_code == 0);
  const auto report = nlohmann::json::parse(second.out);
  CHECK(report["status"] == "success");
  CHECK(report["new"] == 0);
  CHECK(report["message"] == "✅ Синхронизировано 0 транзакций");
  CHECK(setup.scalar("SELECT COUNT(*) FROM transactions") == stored);
  // The secrets are sealed in the store, not kept in the clear.
  CHECK(setup.scalar("SELECT COUNT(*) FROM crm_integrations WHERE settings LIKE '%secret%'") == 0);
}

TEST_CASE("crmsync sync explains what is wrong instead of syncing") {
  SimProcess sim({"--records", "10"});
  Setup setup(sim);
  Run unknown = setup.crmsync({"sync", "--integration", "nope"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("nope") != std::string::npos);

  unsetenv(kKey);
  Run no_key = setup.crmsync({"sync", "--integration", "mindal-yclients"});
  CHECK(no_key.exit_code == 1);
  CHECK(no_key.err.find("secrets.master_key_env") != std::string::npos);

  Setup down(sim);
  sim.admin(
      "POST", "faults",
      {{"provider", "yclients"}, {"endpoint", "*"}, {"kind", "http_500"}, {"probability", 1}});
  Run failed = down.crmsync({"sync", "--integration", "mindal-yclients", "--json"});
  CHECK(failed.exit_code == 1);
  const auto report = nlohmann::json::parse(failed.out);
  CHECK(report["status"] == "failed");
  CHECK(report["error_type"] == "ConnectionError");
}

TEST_CASE("a sync killed between batches resumes without losing or repeating a sale") {
  SimProcess sim({"--records", "300"});
  Setup reference(sim);
  REQUIRE(reference.crmsync({"sync", "--integration", "mindal-yclients"}).exit_code == 0);
  const int64_t expected = reference.scalar("SELECT COUNT(*) FROM transactions");

  Setup setup(sim, 20);
  sim.admin("POST", "faults",
            {{"provider", "yclients"},
             {"endpoint", "records"},
             {"kind", "slow"},
             {"delay_ms", 400},
             {"probability", 1}});
  const pid_t pid = setup.spawn({"sync", "--integration", "mindal-yclients"});
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (setup.scalar("SELECT COUNT(*) FROM sync_cursors") < 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  kill(pid, SIGKILL);
  CHECK(wait_exit(pid) == 128 + SIGKILL);
  const int64_t partial = setup.scalar("SELECT COUNT(*) FROM transactions");
  CHECK(partial > 0);
  CHECK(partial < expected);

  sim.admin("DELETE", "faults");
  std::this_thread::sleep_for(2100ms);  // the dead run's lease (run_lease: 2) runs out
  Run resumed = setup.crmsync({"sync", "--integration", "mindal-yclients"});
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(setup.scalar("SELECT COUNT(*) FROM transactions") == expected);
  CHECK(setup.scalar("SELECT COUNT(DISTINCT external_id) FROM transactions") == expected);
  CHECK(setup.scalar("SELECT COUNT(*) FROM sync_runs WHERE status = 'abandoned'") == 1);
}

TEST_CASE(
    "crmsync serve syncs on schedule, hands every sale to the loyalty module once, and stops "
    "cleanly on SIGTERM") {
  SimProcess sim({"--records", "40"});
  crmsync::test::LoyaltyReceiver loyalty;
  Setup setup(sim, 50, 1, loyalty.url());
  const pid_t pid = setup.spawn({"serve"});
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  auto delivered = [&] {
    return setup.scalar("SELECT COUNT(*) FROM outbox WHERE status = 'done'") ==
           setup.scalar("SELECT COUNT(*) FROM transactions");
  };
  while ((setup.scalar("SELECT COUNT(*) FROM sync_runs WHERE status = 'success'") < 2 ||
          !delivered()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  kill(pid, SIGTERM);
  CHECK(wait_exit(pid) == 0);
  CHECK(setup.scalar("SELECT COUNT(*) FROM sync_runs WHERE status = 'success'") >= 2);
  CHECK(setup.scalar("SELECT COUNT(*) FROM sync_runs WHERE status = 'running'") == 0);
  // Every sale was POSTed with its idempotency key, once.
  const int64_t sales = setup.scalar("SELECT COUNT(*) FROM transactions");
  CHECK(sales > 0);
  CHECK(static_cast<int64_t>(loyalty.accepted().size()) == sales);
  for (const auto& [key, times] : loyalty.accepted()) CHECK(times == 1);
  const std::string log = crmsync::test::slurp(setup.dir / "serve.log");
  CHECK(log.find("\"message\":\"stopping (SIGTERM)\"") != std::string::npos);
  // Every line is one JSON object.
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    CHECK(nlohmann::json::parse(line, nullptr, false).is_object());
  }
}

namespace {

// A YCLIENTS webhook event for an attended, paid record with this id.
std::string yclients_event(int64_t record_id) {
  std::ifstream in(std::string(CRMSYNC_TEST_DATA_DIR) +
                   "/fixtures/yclients/record-get-response.json");
  nlohmann::json record = nlohmann::json::parse(in)["data"];
  record["id"] = record_id;
  record["attendance"] = 1;
  return nlohmann::json{{"company_id", 4564},
                        {"resource", "record"},
                        {"resource_id", record_id},
                        {"status", "create"},
                        {"data", record}}
      .dump();
}

// Waits until serve answers /healthz on port.
bool serving(uint16_t port) {
  auto client = crmsync::http::Client::create({}).value();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    crmsync::http::Request health;
    health.url = "http://127.0.0.1:" + std::to_string(port) + "/healthz";
    auto sent = client->send(health);
    if (sent && sent->status == 200) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace

TEST_CASE("serve killed -9 under webhook load: every acknowledged webhook is processed once") {
  SimProcess sim({"--records", "5"});
  Setup setup(sim);
  pid_t pid = setup.spawn({"serve"});
  REQUIRE(serving(setup.port));
  const std::string url = "http://127.0.0.1:" + std::to_string(setup.port) +
                          "/webhooks/yclients/mindal-yclients?token=" + kWebhookToken;
  std::mutex mutex;
  std::set<int64_t> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      crmsync::http::ClientOptions options;
      options.retry.max_attempts = 1;
      auto client = crmsync::http::Client::create(options).value();
      crmsync::http::Request request;
      request.method = "POST";
      request.url = url;
      request.headers = {{"Content-Type", "application/json"}};
      request.timeout = 2s;
      request.no_retry = true;
      for (int64_t id = 1'000'000 + t * 100'000; !stop; ++id) {
        request.body = yclients_event(id);
        auto sent = client->send(request);
        if (sent && sent->status == 200) {
          std::lock_guard lock(mutex);
          acknowledged.insert(id);
        }
      }
    });
  }
  std::this_thread::sleep_for(1500ms);
  kill(pid, SIGKILL);
  CHECK(wait_exit(pid) == 128 + SIGKILL);
  stop = true;
  for (auto& s : senders) s.join();
  REQUIRE(acknowledged.size() > 50);
  const int64_t stored = setup.scalar("SELECT COUNT(*) FROM webhook_inbox");
  CHECK(stored >= static_cast<int64_t>(acknowledged.size()));
  CHECK(stored <= static_cast<int64_t>(acknowledged.size()) + 4);  // at most those in flight

  pid = setup.spawn({"serve"});
  REQUIRE(serving(setup.port));
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (setup.scalar("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'done'") != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  kill(pid, SIGTERM);
  CHECK(wait_exit(pid) == 0);
  CHECK(setup.scalar("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'done'") == 0);
  for (const int64_t id : acknowledged) {
    CAPTURE(id);
    CHECK(setup.scalar("SELECT COUNT(*) FROM transactions WHERE external_id = 'YCLIENTS-" +
                       std::to_string(id) + "'") == 1);
  }
  CHECK(setup.scalar("SELECT COUNT(*) FROM transactions WHERE external_id >= 'YCLIENTS-1000000' "
                     "AND length(external_id) = 16") == stored);
}
