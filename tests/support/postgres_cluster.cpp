// PostgresCluster: initdb + pg_ctl in a temporary directory, created databases through libpq.
#include "support/postgres_cluster.h"

#include <libpq-fe.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace crmsync::test {
namespace {

namespace fs = std::filesystem;

// The newest Debian server version installed, unless CRMSYNC_PG_BINDIR names one.
std::string find_bindir() {
  if (const char* forced = std::getenv("CRMSYNC_PG_BINDIR"); forced && *forced) return forced;
  int best = -1;
  std::string found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    if (!fs::exists(entry.path() / "bin" / "initdb")) continue;
    if (std::stoi(name) > best) {
      best = std::stoi(name);
      found = (entry.path() / "bin").string();
    }
  }
  if (found.empty()) {
    throw std::runtime_error(
        "no PostgreSQL server in /usr/lib/postgresql/*/bin (install the "
        "`postgresql` package: scripts/deps)");
  }
  return found;
}

// A port nobody listens on right now (the kernel's pick for an ephemeral bind).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool running_as_root() {
  return ::geteuid() == 0;
}

// Runs argv (as the postgres user when we are root) with output appended to log; returns the
// exit status.
int run(std::vector<std::string> argv, const std::string& log) {
  if (running_as_root()) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs one statement on the cluster's maintenance database.
void admin_exec(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* result = PQexec(conn, sql.c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK) error = PQresultErrorMessage(result);
    PQclear(result);
  }
  PQfinish(conn);
  if (!error.empty()) throw std::runtime_error("postgres test cluster: " + sql + ": " + error);
}

}  // namespace

PostgresCluster& PostgresCluster::instance() {
  static PostgresCluster cluster;
  return cluster;
}

PostgresCluster::PostgresCluster() : bindir_(find_bindir()) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/crmsync-pg-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create " + pattern);
  root_ = pattern;
  if (running_as_root()) {
    const passwd* user = ::getpwnam("postgres");
    if (user == nullptr || ::chown(root_.c_str(), user->pw_uid, user->pw_gid) != 0) {
      throw std::runtime_error("running as root, but cannot hand " + root_ +
                               " to the `postgres` user");
    }
  }
  const std::string data = root_ + "/data";
  const std::string log = root_ + "/server.log";
  if (run({bindir_ + "/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
           "--locale=C", "--no-sync"},
          root_ + "/initdb.log") != 0) {
    throw std::runtime_error("initdb failed:\n" + read_file(root_ + "/initdb.log"));
  }
  // A free port can be taken between our probe and the server's bind: try a few.
  for (int attempt = 0; attempt < 5 && port_ == 0; ++attempt) {
    const int port = free_port();
    const std::string options = "-p " + std::to_string(port) +
                                " -c listen_addresses=127.0.0.1 -k " + root_ +
                                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                                " -c max_connections=200";
    if (run({bindir_ + "/pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start"},
            root_ + "/pg_ctl.log") == 0) {
      port_ = port;
    }
  }
  if (port_ == 0) {
    const std::string why = read_file(root_ + "/pg_ctl.log") + read_file(log);
    std::error_code ignored;
    fs::remove_all(root_, ignored);
    throw std::runtime_error("the PostgreSQL test server did not start:\n" + why);
  }
}

PostgresCluster::~PostgresCluster() {
  run({bindir_ + "/pg_ctl", "-D", root_ + "/data", "-m", "immediate", "-w", "stop"},
      root_ + "/pg_ctl.log");
  std::error_code ignored;
  fs::remove_all(root_, ignored);
}

std::string PostgresCluster::conninfo(const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + database;
}

std::string PostgresCluster::create_database() {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  const std::string name = "test_" + std::to_string(++databases_);
  admin_exec(conninfo("postgres"), "CREATE DATABASE " + name);
  return conninfo(name);
}

}  // namespace crmsync::test
