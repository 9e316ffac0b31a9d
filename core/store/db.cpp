// Rows accessors and the connection pool shared by both drivers.
#include "store/db.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace crmsync::store::internal {

const std::optional<std::string>& Rows::cell(size_t row, size_t col) const {
  if (col >= columns_ || row >= size()) {
    std::fprintf(stderr, "crmsync: broken invariant: result cell (%zu, %zu) out of range\n", row,
                 col);
    std::abort();
  }
  return cells_[row * columns_ + col];
}

int64_t Rows::integer(size_t row, size_t col) const {
  const auto& value = cell(row, col);
  if (!value) return 0;
  int64_t out = 0;
  const auto* end = value->data() + value->size();
  if (std::from_chars(value->data(), end, out).ptr != end) {
    std::fprintf(stderr, "crmsync: broken invariant: column %zu is not an integer: %s\n", col,
                 value->c_str());
    std::abort();
  }
  return out;
}

double Rows::real(size_t row, size_t col) const {
  const auto& value = cell(row, col);
  return value ? std::strtod(value->c_str(), nullptr) : 0.0;
}

std::optional<int64_t> Rows::optional_integer(size_t row, size_t col) const {
  if (is_null(row, col)) return std::nullopt;
  return integer(row, col);
}

void Rows::append(Rows&& other) {
  if (other.cells_.empty()) return;
  if (columns_ == 0) columns_ = other.columns_;
  cells_.insert(cells_.end(), std::make_move_iterator(other.cells_.begin()),
                std::make_move_iterator(other.cells_.end()));
  affected += other.affected;
}

Pool::Pool(Factory factory, int capacity)
    : factory_(std::move(factory)), capacity_(capacity < 1 ? 1 : capacity) {}

Pool::Lease::~Lease() {
  if (connection_) pool_->give_back(std::move(connection_));
}

Result<Pool::Lease> Pool::acquire() {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [&] { return !idle_.empty() || open_ < capacity_; });
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(connection));
  }
  ++open_;
  lock.unlock();
  auto connection = factory_();
  if (!connection) {
    lock.lock();
    --open_;
    idle_cv_.notify_one();
    return connection.error();
  }
  return Lease(this, std::move(connection).value());
}

void Pool::give_back(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mutex_);
  if (connection->healthy()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
  idle_cv_.notify_one();
}

}  // namespace crmsync::store::internal
