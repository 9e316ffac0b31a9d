// `crmsync demo [--seconds N] [--dir DIR]`: the host at work on simulated CRMs. Starts the CRM
// simulator (crmsim, installed beside crmsync) with a few salons whose visits keep coming,
// registers each salon's YCLIENTS integration in an embedded SQLite store (credentials sealed under
// a fresh master key), runs the scheduler for a while with a short interval, and prints what each
// integration synced, followed by where to look next.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands/commands.h"
#include "cli/host.h"
#include "cli/runtime.h"
#include "sync/scheduler.h"

extern char** environ;

namespace crmsync::cli {
namespace demo_command {

struct Options {
  int seconds = 20;
  std::string dir = "crmsync-demo";
};

// The salons the simulator serves (YCLIENTS companies 4564...), with their names there.
struct Salon {
  const char* id;
  const char* name;
  int company_id;
};
constexpr Salon kSalons[] = {{"mindal", "Миндаль", 4564},
                             {"lisichkino", "Лисичкино", 4565},
                             {"boroda", "Барбершоп Борода", 4566}};

// crmsim as a child process, stopped when this goes away.
class Simulator {
 public:
  ~Simulator() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }

  // Starts crmsim on a free port and returns its base URL.
  Result<std::string> start(const std::filesystem::path& binary) {
    std::vector<std::string> args = {
        binary.string(), "--port",         "0",    "--companies", "3", "--records", "400",
        "--realtime",    "--new-per-hour", "1800", "--threads",   "2"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return fail(CRMSYNC_E_UNAVAILABLE, "cannot create a pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    const int spawned = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    out_ = pipe_fds[0];
    if (spawned != 0) {
      pid_ = 0;
      return fail(CRMSYNC_E_UNAVAILABLE,
                  "cannot start " + binary.string() + " (build it with scripts/build)");
    }
    std::string line;
    while (line.find('\n') == std::string::npos) {
      pollfd p{out_, POLLIN, 0};
      char buffer[256];
      if (poll(&p, 1, 20'000) <= 0) return fail(CRMSYNC_E_TIMEOUT, "crmsim did not start");
      const ssize_t n = read(out_, buffer, sizeof buffer);
      if (n <= 0) return fail(CRMSYNC_E_UNAVAILABLE, "crmsim exited: " + line);
      line.append(buffer, static_cast<size_t>(n));
    }
    const std::string prefix = "crmsim listening on ";
    if (!line.starts_with(prefix)) return fail(CRMSYNC_E_UNAVAILABLE, "crmsim said: " + line);
    return "http://" + line.substr(prefix.size(), line.find('\n') - prefix.size());
  }

 private:
  pid_t pid_ = 0;
  int out_ = -1;
};

std::string local_time(const std::optional<store::Timestamp>& when) {
  if (!when) return "never";
  const std::time_t seconds = std::chrono::system_clock::to_time_t(*when);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%H:%M:%S", &tm);
  return text;
}

int run(const Options& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const fs::path dir = fs::absolute(options.dir);
  fs::create_directories(dir, ec);
  if (ec) return report_failure("cannot create " + dir.string() + ": " + ec.message());
  for (const char* file : {"crmsync.db", "crmsync.db-wal", "crmsync.db-shm"}) {
    fs::remove(dir / file, ec);
  }

  Simulator simulator;
  auto base = simulator.start(self.parent_path() / "crmsim");
  if (!base) return report_failure(base.error().message);
  std::printf("== crmsim serves three salons' YCLIENTS accounts at %s\n", base->c_str());

  auto key = crypto::generate_master_key();
  if (!key) return report_failure(key.error().message);
  const fs::path key_file = dir / "master.key";
  if (auto written = crypto::write_master_key_file(key_file.string(), *key, /*replace=*/true);
      !written) {
    return report_failure(written.error().message);
  }

  config::Config config;
  config.storage.path = (dir / "crmsync.db").string();
  config.plugins.dir = default_plugin_dir();
  config.plugins.enabled = {"yclients"};
  config.secrets.master_key_file = key_file.string();
  config.scheduler.interval_seconds = 5;
  config.scheduler.workers = 2;
  // The simulated CRM listens on loopback, which connectors may reach only when allowed.
  config.http.allow_private = {"127.0.0.0/8"};
  for (const Salon& salon : kSalons) {
    config::BusinessConfig business;
    business.id = salon.id;
    business.name = salon.name;
    config::IntegrationConfig integration;
    integration.id = std::string(salon.id) + "-yclients";
    integration.connector = "yclients";
    integration.settings_json = nlohmann::json{
        {"company_id", salon.company_id},
        {"partner_token", "partner-secret"},
        {"user_token", "user-secret"},
        {"base_url",
         *base + "/yclients"}}.dump();
    business.integrations.push_back(std::move(integration));
    config.businesses.push_back(std::move(business));
  }
  auto host = open_host(config);
  if (!host) return report_failure(host.error().message);

  std::printf(
      "== crmsync serves them for %d s: a sync of each every %u s; new visits keep coming\n",
      options.seconds, config.scheduler.interval_seconds);
  std::fflush(stdout);
  sync::SchedulerOptions schedule;
  schedule.interval = std::chrono::seconds(config.scheduler.interval_seconds);
  schedule.workers = config.scheduler.workers;
  schedule.first_run_spread = std::chrono::seconds(1);
  {
    sync::Scheduler scheduler(
        *(*host)->engine, *(*host)->store, schedule,
        [](int32_t level, const std::string& integration, const std::string& line) {
          if (level >= CRMSYNC_LOG_WARNING) log_line(level, integration, line);
        });
    scheduler.start();
    std::this_thread::sleep_for(std::chrono::seconds(options.seconds));
    scheduler.stop(std::chrono::seconds(10));
  }

  store::Store& db = *(*host)->store;
  std::printf("\n%-22s %-10s %6s %8s %11s %7s %10s\n", "integration", "CRM", "runs", "synced",
              "duplicates", "errors", "last sync");
  for (const Salon& salon : kSalons) {
    const std::string id = std::string(salon.id) + "-yclients";
    auto stats = db.integration_stats(id, now(), std::chrono::hours(24));
    auto runs = db.list_runs(id, 1000);
    if (!stats || !runs) return report_failure("cannot read the results");
    int64_t duplicates = 0;
    int64_t errors = 0;
    for (const store::SyncRun& run : *runs) {
      duplicates += run.counts.duplicates;
      errors += run.counts.failed + (run.status == store::RunStatus::failed ? 1 : 0);
    }
    std::printf("%-22s %-10s %6lld %8lld %11lld %7lld %10s\n", id.c_str(), "YCLIENTS",
                static_cast<long long>(stats->runs),
                static_cast<long long>(stats->total_transactions),
                static_cast<long long>(duplicates), static_cast<long long>(errors),
                local_time(stats->last_success).c_str());
  }
  std::printf(
      "\nThe store is %s (SQLite). Look next:\n"
      "  sqlite3 %s 'SELECT external_id, occurred_at, amount_minor, phone_e164 FROM transactions "
      "LIMIT 5'\n"
      "  sqlite3 %s \"SELECT integration_id, log_type, message FROM integration_logs ORDER BY id "
      "DESC LIMIT 5\"\n"
      "  sqlite3 %s 'SELECT COUNT(*) FROM outbox' (events waiting for the loyalty module)\n",
      config.storage.path.c_str(), config.storage.path.c_str(), config.storage.path.c_str(),
      config.storage.path.c_str());
  return kExitOk;
}

}  // namespace demo_command

void register_demo(Cli& cli) {
  using namespace demo_command;
  auto options = std::make_shared<Options>();
  CLI::App* command = cli.add_command("demo", "Sync simulated CRMs for a while and show the result",
                                      [options] { return run(*options); });
  command->add_option("--seconds", options->seconds, "How long to run")->capture_default_str();
  command->add_option("--dir", options->dir, "Where the demo store and key go")
      ->capture_default_str();
}

}  // namespace crmsync::cli
