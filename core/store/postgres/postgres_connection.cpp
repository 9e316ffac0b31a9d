// The PostgreSQL driver: one libpq connection with named prepared statements, and bulk inserts
// that send a whole chunk of rows as one array per column (INSERT ... SELECT FROM unnest(...)).
#include "store/db.h"

#include <libpq-fe.h>

#include <memory>
#include <unordered_map>

namespace crmsync::store::internal {
namespace {

constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
// Rows per bulk statement: large enough to amortise the round trip, small enough to keep the
// parameter text within a few megabytes.
constexpr size_t kBulkChunkRows = 5000;

struct ResultFree {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, ResultFree>;

int32_t error_code(const char* sqlstate) {
  const std::string_view state = sqlstate ? sqlstate : "";
  if (state.starts_with("23") || state.starts_with("22")) return CRMSYNC_E_INVALID_INPUT;
  if (state.starts_with("40") || state == "55P03") return CRMSYNC_E_CONFLICT;
  if (state.starts_with("08") || state.starts_with("53") || state.starts_with("57")) {
    return CRMSYNC_E_UNAVAILABLE;
  }
  return CRMSYNC_E_INTERNAL;
}

const char* array_type(ColumnType type) {
  switch (type) {
    case ColumnType::text:
      return "text[]";
    case ColumnType::bigint:
      return "bigint[]";
    case ColumnType::boolean:
      return "boolean[]";
    case ColumnType::json:
      return "jsonb[]";
  }
  return "text[]";
}

// Appends one element to a PostgreSQL array literal: NULL, a bare integer, or a quoted string
// with '"' and '\' escaped.
void append_element(std::string& out, const Param& p, ColumnType type) {
  if (p.kind == Param::Kind::null) {
    out += "NULL";
  } else if (p.kind == Param::Kind::integer) {
    out += type == ColumnType::boolean ? (p.integer ? "t" : "f") : std::to_string(p.integer);
  } else {
    out += '"';
    for (char c : p.bytes) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
}

void ignore_notice(void*, const char*) {}

class PostgresConnection final : public Connection {
 public:
  explicit PostgresConnection(PGconn* conn) : conn_(conn) {
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
  }
  ~PostgresConnection() override { PQfinish(conn_); }
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  Dialect dialect() const noexcept override { return Dialect::postgres; }
  bool healthy() const noexcept override { return PQstatus(conn_) == CONNECTION_OK; }

  Result<Rows> query(std::string_view sql, std::span<const Param> params) override {
    auto name = prepare(sql);
    if (!name) return name.error();
    // libpq wants NUL-terminated text parameters: keep copies alive for the call.
    std::vector<std::string> storage(params.size());
    std::vector<const char*> values(params.size());
    std::vector<int> lengths(params.size());
    std::vector<int> formats(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const Param& p = params[i];
      switch (p.kind) {
        case Param::Kind::null:
          values[i] = nullptr;
          break;
        case Param::Kind::integer:
          storage[i] = std::to_string(p.integer);
          values[i] = storage[i].c_str();
          break;
        case Param::Kind::text:
          storage[i] = std::string(p.bytes);
          values[i] = storage[i].c_str();
          break;
        case Param::Kind::blob:
          values[i] = p.bytes.data();
          lengths[i] = static_cast<int>(p.bytes.size());
          formats[i] = 1;
          break;
      }
    }
    PgResult result(PQexecPrepared(conn_, name->c_str(), static_cast<int>(params.size()),
                                   values.data(), lengths.data(), formats.data(), 0));
    return collect(result.get());
  }

  Result<void> exec(std::string_view sql) override {
    PgResult result(PQexec(conn_, std::string(sql).c_str()));
    if (auto rows = collect(result.get()); !rows) return rows.error();
    return {};
  }

  Result<std::vector<int64_t>> insert_many(const BulkInsert& insert) override {
    std::string sql = "INSERT INTO " + std::string(insert.table) + " (";
    std::string select = "SELECT ";
    std::string arrays = "unnest(";
    std::string names;
    for (size_t i = 0; i < insert.columns.size(); ++i) {
      const std::string name(insert.columns[i].name);
      const std::string sep = i ? ", " : "";
      sql += sep + name;
      select += sep + "v." + name;
      arrays += sep + "$" + std::to_string(i + 1) + "::" + array_type(insert.columns[i].type);
      names += sep + name;
    }
    sql += std::string(insert.extra_columns) + ") " + select + std::string(insert.extra_values) +
           " FROM " + arrays + ") AS v(" + names + ") WHERE true " +
           std::string(insert.on_conflict);
    if (insert.key_column)
      sql += " RETURNING id, " + std::string(insert.columns[*insert.key_column].name);

    const size_t width = insert.columns.size();
    const size_t total_rows = width ? insert.params.size() / width : 0;
    std::vector<int64_t> ids;
    if (insert.key_column) ids.assign(total_rows, 0);
    std::vector<std::string> literals(width);
    for (size_t first = 0; first < total_rows; first += kBulkChunkRows) {
      const size_t last = std::min(total_rows, first + kBulkChunkRows);
      for (size_t c = 0; c < width; ++c) {
        std::string& out = literals[c];
        out.assign("{");
        for (size_t r = first; r < last; ++r) {
          if (r != first) out += ',';
          append_element(out, insert.params[r * width + c], insert.columns[c].type);
        }
        out += '}';
      }
      std::vector<Param> params(literals.begin(), literals.end());
      auto rows = query(sql, params);
      if (!rows) return rows.error();
      if (!insert.key_column) continue;
      // RETURNING comes in no promised order: match each new row to the first input row with its
      // key (later input rows with the same key were skipped by the conflict clause).
      std::unordered_map<std::string_view, size_t> first_row;
      first_row.reserve(last - first);
      for (size_t r = first; r < last; ++r) {
        first_row.emplace(insert.params[r * width + *insert.key_column].bytes, r);
      }
      for (size_t i = 0; i < rows->size(); ++i) {
        ids[first_row.at(rows->text(i, 1))] = rows->integer(i, 0);
      }
    }
    return ids;
  }

 private:
  Result<std::string> prepare(std::string_view sql) {
    auto found = cache_.find(std::string(sql));
    if (found != cache_.end()) return found->second;
    std::string name = "s" + std::to_string(cache_.size() + 1);
    PgResult result(PQprepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr));
    if (auto ok = collect(result.get()); !ok) return ok.error();
    cache_.emplace(std::string(sql), name);
    return name;
  }

  Result<Rows> collect(PGresult* result) {
    const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn_);
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.pop_back();
      }
      const int32_t code =
          healthy() ? error_code(result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr)
                    : CRMSYNC_E_UNAVAILABLE;
      return fail(code, "postgres: " + message);
    }
    const int columns = PQnfields(result);
    const int count = PQntuples(result);
    Rows rows(static_cast<size_t>(columns));
    for (int r = 0; r < count; ++r) {
      for (int c = 0; c < columns; ++c) {
        if (PQgetisnull(result, r, c)) {
          rows.push(std::nullopt);
          continue;
        }
        const char* value = PQgetvalue(result, r, c);
        const Oid type = PQftype(result, c);
        if (type == kBoolOid) {
          rows.push(std::string(value[0] == 't' ? "1" : "0"));
        } else if (type == kByteaOid) {
          size_t size = 0;
          unsigned char* raw =
              PQunescapeBytea(reinterpret_cast<const unsigned char*>(value), &size);
          rows.push(std::string(reinterpret_cast<const char*>(raw), size));
          PQfreemem(raw);
        } else {
          rows.push(std::string(value, static_cast<size_t>(PQgetlength(result, r, c))));
        }
      }
    }
    const char* affected = PQcmdTuples(result);
    rows.affected = (affected && *affected) ? std::stoll(affected) : 0;
    return rows;
  }

  PGconn* conn_;
  std::unordered_map<std::string, std::string> cache_;
};

}  // namespace

Result<std::unique_ptr<Connection>> open_postgres(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string message = conn ? PQerrorMessage(conn) : "out of memory";
    PQfinish(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return fail(CRMSYNC_E_UNAVAILABLE, "postgres: cannot connect: " + message);
  }
  return std::unique_ptr<Connection>(std::make_unique<PostgresConnection>(conn));
}

}  // namespace crmsync::store::internal
