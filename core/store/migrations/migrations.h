// The numbered, forward-only schema migrations, compiled in from migrations/NNNN_name.sql.
#ifndef CRMSYNC_CORE_STORE_MIGRATIONS_MIGRATIONS_H
#define CRMSYNC_CORE_STORE_MIGRATIONS_MIGRATIONS_H

#include <span>

namespace crmsync::store::internal {

// One migration: its number (from the file name), name and SQL in the shared dialect.
struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// All migrations in ascending version order.
std::span<const Migration> migrations();

}  // namespace crmsync::store::internal

#endif  // CRMSYNC_CORE_STORE_MIGRATIONS_MIGRATIONS_H
