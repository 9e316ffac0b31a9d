// The CRM simulator's Beast server: one async session per connection on a small thread pool.
#include "server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>
#include <thread>

namespace crmsync::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

// One client connection: read a request, answer it as the simulator says, repeat (keep-alive).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Simulator& simulator)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), simulator_(simulator) {}

  void start() { read(); }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(120));
    bhttp::async_read(stream_, buffer_, request_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->close();
                        self->on_request();
                      });
  }

  void on_request() {
    SimRequest request;
    request.method = std::string(request_.method_string());
    request.target = std::string(request_.target());
    for (const auto& field : request_) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request.body = std::move(request_.body());
    reply_ = simulator_.handle(std::move(request));
    if (reply_.delay.count() > 0) {
      stream_.expires_never();
      timer_.expires_after(reply_.delay);
      timer_.async_wait([self = shared_from_this()](beast::error_code) { self->finish(); });
    } else {
      finish();
    }
  }

  void finish() {
    auto& socket = stream_.socket();
    beast::error_code ignored;
    switch (reply_.action) {
      case Reply::Action::reset:
        // SO_LINGER with zero timeout makes close() send RST instead of FIN.
        socket.set_option(asio::socket_base::linger(true, 0), ignored);
        socket.close(ignored);
        return;
      case Reply::Action::hang:
        return close();
      case Reply::Action::respond:
        break;
    }
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(reply_.status), request_.version());
    response->set(bhttp::field::server, "crmsim");
    response->set(bhttp::field::content_type, reply_.content_type);
    for (const auto& [name, value] : reply_.headers) response->set(name, value);
    response->body() = std::move(reply_.body);
    response->keep_alive(request_.keep_alive());
    response->prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    bhttp::async_write(stream_, *response,
                       [self = shared_from_this(), response](beast::error_code ec, size_t) {
                         if (ec || !response->keep_alive()) return self->close();
                         self->read();
                       });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  bhttp::request<bhttp::string_body> request_;
  Reply reply_;
  Simulator& simulator_;
};

}  // namespace

namespace internal {

class ServerImpl {
 public:
  explicit ServerImpl(Simulator& simulator)
      : simulator_(simulator), acceptor_(asio::make_strand(io_)) {}

  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
      if (!ec) {
        simulator_.on_connection();
        std::make_shared<Session>(std::move(s), simulator_)->start();
      }
      if (acceptor_.is_open()) accept();
    });
  }

  Simulator& simulator_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
};

}  // namespace internal

Result<std::unique_ptr<Server>> Server::listen(Simulator& simulator, const std::string& host,
                                               uint16_t port) {
  auto impl = std::make_unique<internal::ServerImpl>(simulator);
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return fail(CRMSYNC_E_INVALID_CONFIG, "bad listen address '" + host + "'");
  const tcp::endpoint endpoint(address, port);
  auto& acceptor = impl->acceptor_;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(CRMSYNC_E_UNAVAILABLE,
                "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<internal::ServerImpl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

uint16_t Server::port() const {
  return impl_->acceptor_.local_endpoint().port();
}

void Server::run(int threads) {
  auto& io = impl_->io_;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });
  impl_->accept();
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
}

}  // namespace crmsync::sim
