// The SQLite driver: one sqlite3 handle in WAL mode with a cache of prepared statements.
#include "store/db.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <unordered_map>

namespace crmsync::store::internal {
namespace {

int32_t error_code(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return CRMSYNC_E_UNAVAILABLE;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return CRMSYNC_E_INVALID_INPUT;
    default:
      return CRMSYNC_E_INTERNAL;
  }
}

// $1..$n become ?1..?n, SQLite's numbered parameters with the same meaning.
std::string to_sqlite_placeholders(std::string_view sql) {
  std::string out(sql);
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] == '$' && out[i + 1] >= '0' && out[i + 1] <= '9') out[i] = '?';
  }
  return out;
}

// How long a writer waits for the lock, in short steps. SQLite's own busy handler sleeps in steps
// of up to 100 ms, which under a steady stream of short write transactions (the webhook inbox's
// group commits next to the workers' batches) turns a wait of a millisecond into a 100 ms stall.
struct BusyWait {
  std::chrono::milliseconds timeout;
  std::chrono::steady_clock::time_point started;

  static int handler(void* self, int attempt) {
    auto& wait = *static_cast<BusyWait*>(self);
    const auto now = std::chrono::steady_clock::now();
    if (attempt == 0) wait.started = now;
    if (now - wait.started >= wait.timeout) return 0;
    // 50 µs, doubling to 2 ms: a lock held for one commit is usually free again within that.
    std::this_thread::sleep_for(std::chrono::microseconds(50 << std::min(attempt, 5)));
    return 1;
  }
};

// Passes each commit's log size to the checkpointer. Replacing SQLite's own hook (the automatic
// checkpoint) is what moves the copy off the committing thread.
int on_wal_commit(void* checkpointer, sqlite3*, const char*, int wal_pages) {
  static_cast<SqliteCheckpointer*>(checkpointer)->committed(wal_pages);
  return SQLITE_OK;
}

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(sqlite3* db, std::chrono::milliseconds busy_timeout,
                   std::shared_ptr<SqliteCheckpointer> checkpointer)
      : db_(db), busy_{busy_timeout, {}}, checkpointer_(std::move(checkpointer)) {
    sqlite3_busy_handler(db_, &BusyWait::handler, &busy_);
    if (checkpointer_) sqlite3_wal_hook(db_, &on_wal_commit, checkpointer_.get());
  }
  ~SqliteConnection() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Dialect dialect() const noexcept override { return Dialect::sqlite; }
  bool healthy() const noexcept override { return true; }

  Result<Rows> query(std::string_view sql, std::span<const Param> params) override {
    auto stmt = prepare(sql);
    if (!stmt) return stmt.error();
    Rows rows(static_cast<size_t>(sqlite3_column_count(*stmt)));
    if (auto done = step(*stmt, params, rows); !done) return done.error();
    return rows;
  }

  Result<void> exec(std::string_view sql) override {
    char* message = nullptr;
    const std::string script(sql);
    const int rc = sqlite3_exec(db_, script.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
      std::string text = message ? message : sqlite3_errstr(rc);
      sqlite3_free(message);
      return fail(error_code(rc), "sqlite: " + text);
    }
    return {};
  }

  // One reused single-row INSERT ... VALUES per row inside the caller's transaction: SQLite's
  // fastest path (no parsing per row, no round trips to pay for, and, unlike INSERT ... SELECT,
  // no statement journal per row). extra_values' v.<column> become that column's parameter.
  Result<std::vector<int64_t>> insert_many(const BulkInsert& insert) override {
    std::string sql = "INSERT INTO " + std::string(insert.table) + " (";
    std::string values = "VALUES (";
    std::string extra(insert.extra_values);
    // Longest names first, so that v.phone never eats the start of v.phone_e164.
    std::vector<size_t> order(insert.columns.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return insert.columns[a].name.size() > insert.columns[b].name.size();
    });
    for (size_t i : order) {
      const std::string from = "v." + std::string(insert.columns[i].name);
      const std::string to = "$" + std::to_string(i + 1);
      for (size_t at = extra.find(from); at != std::string::npos; at = extra.find(from, at)) {
        extra.replace(at, from.size(), to);
      }
    }
    for (size_t i = 0; i < insert.columns.size(); ++i) {
      const std::string sep = i ? ", " : "";
      sql += sep + std::string(insert.columns[i].name);
      values += sep + "$" + std::to_string(i + 1);
    }
    sql += std::string(insert.extra_columns) + ") " + values + extra + ") " +
           std::string(insert.on_conflict);
    auto stmt = prepare(sql);
    if (!stmt) return stmt.error();
    // No RETURNING: it materializes each row's result and costs about as much as the insert
    // itself. changes() and last_insert_rowid() tell the same for one row at a time.
    const size_t width = insert.columns.size();
    std::vector<int64_t> ids;
    ids.reserve(width ? insert.params.size() / width : 0);
    Rows none(0);
    for (size_t at = 0; at + width <= insert.params.size(); at += width) {
      if (auto done = step(*stmt, insert.params.subspan(at, width), none); !done) {
        return done.error();
      }
      if (insert.key_column) {
        ids.push_back(sqlite3_changes64(db_) > 0 ? sqlite3_last_insert_rowid(db_) : 0);
      }
    }
    return ids;
  }

 private:
  Result<sqlite3_stmt*> prepare(std::string_view sql) {
    auto found = cache_.find(std::string(sql));
    if (found != cache_.end()) return found->second;
    const std::string text = to_sqlite_placeholders(sql);
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, text.c_str(), static_cast<int>(text.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      return fail(error_code(rc), std::string("sqlite: ") + sqlite3_errmsg(db_));
    }
    cache_.emplace(std::string(sql), stmt);
    return stmt;
  }

  // Binds params, runs the statement to completion appending its rows, and resets it.
  Result<void> step(sqlite3_stmt* stmt, std::span<const Param> params, Rows& rows) {
    for (size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i + 1);
      const Param& p = params[i];
      int rc = SQLITE_OK;
      switch (p.kind) {
        case Param::Kind::null:
          rc = sqlite3_bind_null(stmt, index);
          break;
        case Param::Kind::integer:
          rc = sqlite3_bind_int64(stmt, index, p.integer);
          break;
        case Param::Kind::text:
          rc = sqlite3_bind_text64(stmt, index, p.bytes.data(), p.bytes.size(), SQLITE_STATIC,
                                   SQLITE_UTF8);
          break;
        case Param::Kind::blob:
          rc = sqlite3_bind_blob64(stmt, index, p.bytes.data(), p.bytes.size(), SQLITE_STATIC);
          break;
      }
      if (rc != SQLITE_OK)
        return fail(error_code(rc), std::string("sqlite: ") + sqlite3_errmsg(db_));
    }
    const int columns = sqlite3_column_count(stmt);
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      for (int c = 0; c < columns; ++c) {
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) {
          rows.push(std::nullopt);
        } else {
          const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, c));
          const auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, c));
          rows.push(std::string(data ? data : "", size));
        }
      }
    }
    std::string message = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db_);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) return fail(error_code(rc), "sqlite: " + message);
    rows.affected += sqlite3_changes64(db_);
    return {};
  }

  sqlite3* db_;
  BusyWait busy_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
  std::shared_ptr<SqliteCheckpointer> checkpointer_;
};

// SQLite's own threshold for its automatic checkpoint (about 4 MB of log at 4 KiB pages).
constexpr int kCheckpointPages = 1000;
// The log size at which a checkpoint also starts the log over (about 16 MB): that step holds
// writers back for a moment, so it runs less often than the copies.
constexpr int kRestartPages = 4 * kCheckpointPages;
// How long a RESTART may wait for readers of an old snapshot while it holds writers back, and
// how long a committing writer gives way to it.
constexpr auto kRestartWait = std::chrono::milliseconds(2);
constexpr auto kGiveWay = std::chrono::milliseconds(10);

// The checkpointer's own connection, or null if the file cannot be opened now.
sqlite3* open_for_checkpoints(const std::string& path, BusyWait& restart_wait) {
  sqlite3* db = nullptr;
  // A new connection learns that the file is in WAL mode from its first read; until then a
  // checkpoint on it does nothing (and reports no log at all).
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
          SQLITE_OK ||
      sqlite3_exec(db, "SELECT 1 FROM sqlite_schema LIMIT 1", nullptr, nullptr, nullptr) !=
          SQLITE_OK) {
    sqlite3_close_v2(db);
    return nullptr;
  }
  sqlite3_busy_handler(db, &BusyWait::handler, &restart_wait);
  return db;
}

}  // namespace

SqliteCheckpointer::SqliteCheckpointer(std::string path)
    : path_(std::move(path)), thread_([this] { loop(); }) {}

SqliteCheckpointer::~SqliteCheckpointer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wanted_.notify_one();
  thread_.join();
}

void SqliteCheckpointer::committed(int wal_pages) {
  if (wal_pages < kCheckpointPages) return;
  std::unique_lock lock(mutex_);
  if (restart_due_) {
    // A RESTART needs a moment without a writer, which a writer committing back to back (the
    // webhook receiver under load, an import's batches) never leaves: the log would grow
    // without end. This commit has released its locks, so waiting here is that moment; the
    // checkpointer takes the write lock at once instead of polling for a gap that may never come.
    restart_due_ = false;
    restarting_ = true;
    requested_ = true;
    wanted_.notify_one();
  }
  if (restarting_) {
    restarted_.wait_for(lock, kGiveWay, [this] { return !restarting_; });
    return;
  }
  // What the last checkpoint copied needs no copy again: the next one waits until as many new
  // frames follow (a log started over since has fewer frames than were copied).
  if (wal_pages >= copied_ && wal_pages - copied_ < kCheckpointPages) return;
  if (requested_) return;
  requested_ = true;
  lock.unlock();
  wanted_.notify_one();
}

void SqliteCheckpointer::loop() {
  pthread_setname_np(pthread_self(), "crmsync-ckpt");
  sqlite3* db = nullptr;
  BusyWait restart_wait{kRestartWait, {}};
  for (;;) {
    bool restart = false;
    {
      std::unique_lock lock(mutex_);
      wanted_.wait(lock, [this] { return stopping_ || requested_; });
      if (stopping_) break;
      requested_ = false;
      restart = restarting_;
    }
    if (db == nullptr) db = open_for_checkpoints(path_, restart_wait);
    if (db != nullptr && !restart) {
      // PASSIVE copies what no reader still needs without taking the write lock, so writers go
      // on committing meanwhile. Under a steady stream of commits it never copies the very last
      // one, though, and SQLite starts the log over only when a writer finds it wholly copied:
      // the log would grow without end (gigabytes a minute under webhook load, gigabytes per
      // million imported rows). Once it is long, the next commit hands over for a RESTART.
      int log_pages = 0;
      int copied = 0;
      const bool passive = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                                     &log_pages, &copied) == SQLITE_OK;
      std::lock_guard lock(mutex_);
      copied_ = passive ? copied : 0;
      restart_due_ = passive && log_pages >= kRestartPages;
      continue;
    }
    // RESTART copies the frames committed since while it holds writers back, so the next commit
    // starts the log over (and overwrites the same file blocks, whose sync then needs no
    // metadata written). A busy result (a reader on an old snapshot, another process writing or
    // checkpointing) leaves the log as it is until the next PASSIVE finds it long again. Without
    // a connection (the file cannot be opened now) the writers' next commits ask again; until
    // then the log grows, and nothing is lost.
    const bool restarted =
        db != nullptr && sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_RESTART, nullptr,
                                                   nullptr) == SQLITE_OK;
    {
      std::lock_guard lock(mutex_);
      restarting_ = false;
      if (restarted) copied_ = 0;  // the next commit starts the log over
    }
    restarted_.notify_all();
  }
  sqlite3_close_v2(db);
}

Result<void> sync_sqlite_log(const std::string& path) {
  // SQLite syncs its log only inside a commit, under the write lock; syncing the file from
  // outside lets the next commit proceed meanwhile. The log persists while the store holds
  // connections, and a checkpoint syncs it before it copies frames, so the file opened here holds
  // (or has already passed on, durably) every frame committed before this call.
  const std::string log = path + "-wal";
  const int fd = ::open(log.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(CRMSYNC_E_UNAVAILABLE,
                "sqlite: cannot open " + log + " to sync it: " + std::strerror(errno));
  }
  const int rc = ::fdatasync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) {
    return fail(CRMSYNC_E_UNAVAILABLE, "sqlite: cannot sync " + log + ": " + std::strerror(error));
  }
  return {};
}

Result<std::unique_ptr<Connection>> open_sqlite(const std::string& path, int busy_timeout_ms,
                                                std::shared_ptr<SqliteCheckpointer> checkpointer) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return fail(CRMSYNC_E_UNAVAILABLE, "sqlite: cannot open " + path + ": " + message);
  }
  // Switching a fresh file to WAL needs an exclusive lock and SQLite does not call the busy
  // handler for it, so several hosts starting at once on a new database retry here themselves.
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  int wal_rc = SQLITE_OK;
  while ((wal_rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr)) ==
             SQLITE_BUSY &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (wal_rc != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db);
    sqlite3_close_v2(db);
    return fail(error_code(wal_rc), "sqlite: cannot switch " + path + " to WAL: " + message);
  }
  auto connection = std::make_unique<SqliteConnection>(
      db, std::chrono::milliseconds(busy_timeout_ms), std::move(checkpointer));
  // NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the
  // last commits, never corrupt the file (what must survive that too is synced with
  // sync_sqlite_log). An 8 MiB page cache (the default is 2 MiB) holds a batch's table pages
  // and the inner pages of its indexes; leaves beyond that come from the OS's file cache. A
  // larger cache saves reads only once an index has outgrown it (a 1M-row import: 24 MiB more
  // for 15-20% less time), and every connection would hold one.
  if (auto ok = connection->exec(
          "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-8192;");
      !ok) {
    return fail(ok.error().code, ok.error().message + " (" + path + ")");
  }
  return std::unique_ptr<Connection>(std::move(connection));
}

}  // namespace crmsync::store::internal
