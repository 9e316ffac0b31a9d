// The test loyalty receiver: POSIX accept loop polled for a prompt shutdown, Boost.Beast for
// HTTP parsing and answers on each connection.
#include "support/loyalty_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <stdexcept>

namespace crmsync::test {

namespace http = boost::beast::http;

struct LoyaltyReceiver::State {
  mutable std::mutex mutex;
  std::vector<ReceivedRequest> requests;
  std::map<std::string, int> accepted;
  std::map<std::string, int> in_flight;
  int max_concurrent = 0;
  std::vector<std::thread> connections;
};

LoyaltyReceiver::LoyaltyReceiver(ReceiverBehaviour behaviour)
    : behaviour_(std::move(behaviour)), state_(std::make_unique<State>()) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) ||
      listen(listen_fd_, 64) ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length)) {
    throw std::runtime_error("loyalty receiver: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

LoyaltyReceiver::~LoyaltyReceiver() {
  stopping_ = true;
  acceptor_.join();
  std::vector<std::thread> connections;
  {
    std::lock_guard lock(state_->mutex);
    connections.swap(state_->connections);
  }
  for (auto& t : connections) t.join();
  close(listen_fd_);
}

std::string LoyaltyReceiver::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/api/loyalty/transactions";
}

std::vector<ReceivedRequest> LoyaltyReceiver::requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->requests;
}

std::map<std::string, int> LoyaltyReceiver::accepted() const {
  std::lock_guard lock(state_->mutex);
  return state_->accepted;
}

int LoyaltyReceiver::max_concurrent_per_key() const {
  std::lock_guard lock(state_->mutex);
  return state_->max_concurrent;
}

void LoyaltyReceiver::accept_loop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard lock(state_->mutex);
    state_->connections.emplace_back([this, fd] { serve(fd); });
  }
}

void LoyaltyReceiver::serve(int fd) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.assign(boost::asio::ip::tcp::v4(), fd);
  boost::beast::flat_buffer buffer;
  while (!stopping_.load()) {
    // Wait for the next request in short polls, so that the destructor is never held up.
    if (buffer.size() == 0) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
    }
    http::request<http::string_body> request;
    boost::system::error_code ec;
    http::read(socket, buffer, request, ec);
    if (ec) break;

    ReceivedRequest seen;
    seen.method = std::string(request.method_string());
    seen.target = std::string(request.target());
    seen.content_type = std::string(request[http::field::content_type]);
    seen.idempotency_key = std::string(request["Idempotency-Key"]);
    seen.body = request.body();
    std::string reply = R"({"status":"accepted"})";
    {
      std::lock_guard lock(state_->mutex);
      const auto index = static_cast<int>(state_->requests.size());
      const int concurrent = ++state_->in_flight[seen.idempotency_key];
      state_->max_concurrent = std::max(state_->max_concurrent, concurrent);
      if (index < behaviour_.fail_first) {
        seen.status = 503;
        reply = R"({"error":"warming up"})";
      } else if (behaviour_.always_status != 0) {
        seen.status = behaviour_.always_status;
        reply = behaviour_.always_body;
      } else if (state_->accepted.contains(seen.idempotency_key)) {
        seen.status = 200;
        reply = R"({"status":"duplicate"})";
      } else {
        ++state_->accepted[seen.idempotency_key];
        seen.status = index < behaviour_.fail_first + behaviour_.lose_answers ? 503 : 200;
      }
      state_->requests.push_back(seen);
    }
    if (behaviour_.delay.count() > 0) std::this_thread::sleep_for(behaviour_.delay);
    {
      std::lock_guard lock(state_->mutex);
      --state_->in_flight[seen.idempotency_key];
    }
    http::response<http::string_body> response{static_cast<http::status>(seen.status),
                                               request.version()};
    response.set(http::field::content_type, "application/json");
    response.keep_alive(request.keep_alive());
    response.body() = reply;
    response.prepare_payload();
    http::write(socket, response, ec);
    if (ec || !request.keep_alive()) break;
  }
  boost::system::error_code ignored;
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace crmsync::test
