// Internal database layer of the store: bound parameters, result rows, one connection interface
// implemented by the SQLite and PostgreSQL drivers, and a small blocking connection pool.
//
// SQL is written once with PostgreSQL's $1..$n placeholders; the SQLite driver reads them as its
// own ?1..?n, which mean the same thing. Values are always bound, never spliced into SQL.
#ifndef CRMSYNC_CORE_STORE_DB_H
#define CRMSYNC_CORE_STORE_DB_H

#include "base/result.h"

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace crmsync::store::internal {

// The SQL flavour a connection speaks, for the few statements that differ.
enum class Dialect { sqlite, postgres };

// A bound parameter. Views borrow their bytes for the duration of the call.
struct Param {
  enum class Kind : uint8_t { null, integer, text, blob };
  Kind kind = Kind::null;
  int64_t integer = 0;
  std::string_view bytes;

  Param() = default;
  Param(std::nullptr_t) {}                                            // NOLINT: implicit by design
  Param(int64_t value) : kind(Kind::integer), integer(value) {}       // NOLINT
  Param(int value) : kind(Kind::integer), integer(value) {}           // NOLINT
  Param(bool value) : kind(Kind::integer), integer(value ? 1 : 0) {}  // NOLINT
  Param(std::string_view text) : kind(Kind::text), bytes(text) {}     // NOLINT
  Param(const std::string& text) : kind(Kind::text), bytes(text) {}   // NOLINT
  Param(const char* text) : kind(Kind::text), bytes(text) {}          // NOLINT
  // Binary data (BLOB / BYTEA).
  static Param blob(std::string_view data) {
    Param p;
    p.kind = Kind::blob;
    p.bytes = data;
    return p;
  }
  // NULL when empty, else text: optional columns store "absent" as NULL.
  static Param text_or_null(std::string_view text) { return text.empty() ? Param() : Param(text); }
};

// Rows of a result, copied out of the driver. Cells are text (integers in decimal, booleans as
// "1"/"0", blobs as raw bytes); NULL is distinct from empty.
class Rows {
 public:
  Rows() = default;
  explicit Rows(size_t columns) : columns_(columns) {}

  size_t size() const noexcept { return columns_ == 0 ? 0 : cells_.size() / columns_; }
  bool empty() const noexcept { return size() == 0; }
  size_t columns() const noexcept { return columns_; }
  bool is_null(size_t row, size_t col) const { return !cell(row, col).has_value(); }
  // Text of a cell; empty for NULL.
  std::string text(size_t row, size_t col) const { return cell(row, col).value_or(std::string()); }
  // Integer of a cell; 0 for NULL.
  int64_t integer(size_t row, size_t col) const;
  // Floating point of a cell (AVG results); 0 for NULL.
  double real(size_t row, size_t col) const;
  bool boolean(size_t row, size_t col) const { return integer(row, col) != 0; }
  // The integer, or nullopt for NULL.
  std::optional<int64_t> optional_integer(size_t row, size_t col) const;

  // Driver side: appends one cell of the current row.
  void push(std::optional<std::string> cell) { cells_.push_back(std::move(cell)); }
  // Moves another result's rows (same column count) to the end of this one.
  void append(Rows&& other);

  // Rows changed by the statement (INSERT/UPDATE/DELETE).
  int64_t affected = 0;

 private:
  const std::optional<std::string>& cell(size_t row, size_t col) const;
  size_t columns_ = 0;
  std::vector<std::optional<std::string>> cells_;
};

// Column types of bulk inserts (PostgreSQL needs them to type its arrays).
enum class ColumnType { text, bigint, boolean, json };

// One column of a bulk insert.
struct BulkColumn {
  std::string_view name;
  ColumnType type;
};

// An INSERT of many rows: INSERT INTO table (columns..., extra_columns)
//   SELECT v.columns..., extra_values FROM <the rows> AS v <on_conflict>
// extra_values may refer to the row's columns as v.<name> (e.g. a user lookup by phone);
// on_conflict is empty or an ON CONFLICT ... DO NOTHING clause. params has columns.size() values
// per row.
struct BulkInsert {
  std::string_view table;
  std::span<const BulkColumn> columns;
  std::string_view extra_columns;  // ", user_id" or empty
  std::string_view extra_values;   // ", (SELECT ...)" or empty
  std::string_view on_conflict;
  std::span<const Param> params;
  // When set, insert_many reports the new rows' ids (the table's integer key must be named id).
  // key_column is the text column that tells the rows of one insert apart (the conflict key).
  std::optional<size_t> key_column;
};

// One open database connection; used by one thread at a time (the pool sees to it).
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const noexcept = 0;
  // Runs one statement with bound parameters (prepared once per connection and reused).
  virtual Result<Rows> query(std::string_view sql, std::span<const Param> params) = 0;
  // Runs a script of statements without parameters (migrations, BEGIN/COMMIT).
  virtual Result<void> exec(std::string_view sql) = 0;
  // Runs a bulk insert the fastest way the engine has. With key_column it returns, per input row
  // in order, the id of the row it inserted, or 0 when on_conflict skipped it (a row repeating an
  // earlier row of the same insert is skipped too); without, an empty vector.
  virtual Result<std::vector<int64_t>> insert_many(const BulkInsert& insert) = 0;
  // False once the connection is unusable; the pool then drops it.
  virtual bool healthy() const noexcept = 0;

  // Convenience for query with a brace list of parameters.
  Result<Rows> run(std::string_view sql, std::initializer_list<Param> params = {}) {
    return query(sql, std::span<const Param>(params.begin(), params.size()));
  }
};

// A blocking pool of connections created on demand, at most `capacity` at once.
class Pool {
 public:
  using Factory = std::function<Result<std::unique_ptr<Connection>>()>;

  Pool(Factory factory, int capacity);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A connection on loan; returns to the pool when destroyed (dropped if unhealthy).
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    Connection& operator*() const noexcept { return *connection_; }
    Connection* operator->() const noexcept { return connection_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  // Waits for an idle connection or opens a new one while under capacity.
  Result<Lease> acquire();

 private:
  void give_back(std::unique_ptr<Connection> connection);

  Factory factory_;
  int capacity_;
  int open_ = 0;
  std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

// Copies a SQLite database's write-ahead log back into the database file on a thread of its own.
// SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so that one
// writer waits for the copy and its fsyncs (milliseconds to seconds): a webhook acknowledgement
// or a lease renewal behind it would wait as long. Connections opened with a checkpointer leave
// the copy to it. Thread-safe.
class SqliteCheckpointer {
 public:
  // Starts the thread; it opens its own connection on path at the first checkpoint.
  explicit SqliteCheckpointer(std::string path);
  // Stops and joins the thread (a checkpoint in progress finishes first).
  ~SqliteCheckpointer();
  SqliteCheckpointer(const SqliteCheckpointer&) = delete;
  SqliteCheckpointer& operator=(const SqliteCheckpointer&) = delete;

  // A commit left wal_pages frames in the log: asks for a checkpoint once that is worth it.
  // Called from SQLite's commit hook, after the commit released its locks. Returns at once,
  // except when the log is due to start over: then it waits for that (10 ms at most).
  void committed(int wal_pages);

 private:
  void loop();

  std::string path_;
  std::mutex mutex_;
  std::condition_variable wanted_;
  std::condition_variable restarted_;
  bool requested_ = false;
  bool restart_due_ = false;  // the log is long: the next commit hands over for a RESTART
  bool restarting_ = false;   // a RESTART checkpoint is waiting for or holding the write lock
  int copied_ = 0;            // frames of the log the last checkpoint had copied
  bool stopping_ = false;
  std::thread thread_;
};

// Opens a SQLite connection on path in WAL mode with foreign keys and a busy timeout. With a
// checkpointer, the connection's commits hand the log's checkpoints to it.
Result<std::unique_ptr<Connection>> open_sqlite(
    const std::string& path, int busy_timeout_ms,
    std::shared_ptr<SqliteCheckpointer> checkpointer = nullptr);

// Syncs the write-ahead log of the SQLite database at path to stable storage (fdatasync): every
// commit that returned before the call is then durable, as if it had been committed with
// synchronous=FULL. Commits of other threads may go on meanwhile.
Result<void> sync_sqlite_log(const std::string& path);

// Opens a PostgreSQL connection from a conninfo string or URL.
Result<std::unique_ptr<Connection>> open_postgres(const std::string& conninfo);

}  // namespace crmsync::store::internal

#endif  // CRMSYNC_CORE_STORE_DB_H
