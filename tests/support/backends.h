// The two store backends as test fixtures: a fresh SQLite file, or a fresh database on the
// executable's throwaway PostgreSQL cluster. Suites run the same cases over both with
// doctest's TEST_CASE_TEMPLATE(name, B, CRMSYNC_TEST_BACKENDS).
#ifndef CRMSYNC_TESTS_SUPPORT_BACKENDS_H
#define CRMSYNC_TESTS_SUPPORT_BACKENDS_H

#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "store/store.h"
#include "support/postgres_cluster.h"
#include "support/temp_dir.h"

namespace crmsync::test {

// A fresh SQLite database in its own directory.
struct Sqlite {
  TempDir dir;
  store::StorageConfig config() const {
    store::StorageConfig c;
    c.backend = store::Backend::sqlite;
    c.target = (dir / "crmsync.db").string();
    return c;
  }
  // Reads one integer with the engine's own client, the way another module would.
  int64_t scalar(const std::string& sql) const {
    sqlite3* db = nullptr;
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_open(config().target.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    const int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }
  // Runs statements that return no rows (a test taking the schema back, say).
  void exec(const std::string& sql) const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(config().target.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
};

// A fresh database on the executable's PostgreSQL cluster.
struct Postgres {
  std::string conninfo = PostgresCluster::instance().create_database();
  store::StorageConfig config() const {
    store::StorageConfig c;
    c.backend = store::Backend::postgres;
    c.target = conninfo;
    return c;
  }
  // Reads one integer with the engine's own client, the way another module would.
  int64_t scalar(const std::string& sql) const {
    PGconn* conn = PQconnectdb(conninfo.c_str());
    PGresult* result = PQexec(conn, sql.c_str());
    REQUIRE(PQresultStatus(result) == PGRES_TUPLES_OK);
    const int64_t value = std::stoll(PQgetvalue(result, 0, 0));
    PQclear(result);
    PQfinish(conn);
    return value;
  }
  // Runs statements that return no rows (a test taking the schema back, say).
  void exec(const std::string& sql) const {
    PGconn* conn = PQconnectdb(conninfo.c_str());
    PGresult* result = PQexec(conn, sql.c_str());
    const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    PQfinish(conn);
    REQUIRE(ok);
  }
};

}  // namespace crmsync::test

#define CRMSYNC_TEST_BACKENDS ::crmsync::test::Sqlite, ::crmsync::test::Postgres

#endif  // CRMSYNC_TESTS_SUPPORT_BACKENDS_H
