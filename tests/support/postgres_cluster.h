// A throwaway PostgreSQL server for tests: one cluster per test executable, started on first
// use in a temporary directory on a free loopback port, stopped and deleted at exit.
//
// It runs Debian's server binaries (/usr/lib/postgresql/<newest>/bin; CRMSYNC_PG_BINDIR
// overrides), as the `postgres` OS user when the tests run as root (the server refuses root).
// Durability is switched off (fsync, synchronous_commit, full_page_writes) for speed.
#ifndef CRMSYNC_TESTS_SUPPORT_POSTGRES_CLUSTER_H
#define CRMSYNC_TESTS_SUPPORT_POSTGRES_CLUSTER_H

#include <string>

namespace crmsync::test {

class PostgresCluster {
 public:
  // The executable's cluster, started on the first call; throws std::runtime_error with the
  // server's log when it cannot start.
  static PostgresCluster& instance();

  // Creates an empty database and returns its libpq conninfo; each call gives a new one.
  std::string create_database();

  // The conninfo of an existing database of the cluster.
  std::string conninfo(const std::string& database) const;

  // The loopback port the server listens on.
  int port() const noexcept { return port_; }

  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;
  ~PostgresCluster();

 private:
  PostgresCluster();
  std::string root_;  // temporary directory: data/, the socket and server.log
  std::string bindir_;
  int port_ = 0;
  int databases_ = 0;
};

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_SUPPORT_POSTGRES_CLUSTER_H
