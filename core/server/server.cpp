// The HTTP server: one asynchronous session per connection, on one of the I/O threads. Each
// thread runs an io_context of its own and a connection stays on one of them, so a session's
// handlers never run concurrently without strands or a shared scheduler lock; a reply from
// another thread is posted to the session's context.
#include "server/server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <pthread.h>

#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/barrier.h"
#include "base/json.h"

namespace crmsync::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return std::string_view(value);
  }
  return std::nullopt;
}

Response Response::json(int status, std::string body) {
  return Response{
      .status = status, .content_type = "application/json", .headers = {}, .body = std::move(body)};
}

Response Response::text(int status, std::string body) {
  return Response{.status = status,
                  .content_type = "text/plain; charset=utf-8",
                  .headers = {},
                  .body = std::move(body)};
}

Response internal_error(std::string_view detail) {
  return Response::json(500, dump_json(nlohmann::json{{"error", std::string(detail)}}));
}

namespace {

// A request's id: 64 random bits as 16 hex digits, from a generator per I/O thread.
std::string new_request_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t bits = generator();
  std::string id(16, '0');
  for (char& c : id) {
    c = kHex[bits & 0xf];
    bits >>= 4;
  }
  return id;
}

// A 5xx answer as the client sees it: a 500's body (the host's detail) is logged and replaced by
// a generic message; any 5xx JSON object body names the request id.
void mark_server_error(Response& response, const std::string& request_id) {
  if (response.status < 500) return;
  if (response.status == 500) {
    std::fprintf(stderr, "crmsync: request %s: internal error: %s\n", request_id.c_str(),
                 response.body.c_str());
    response.content_type = "application/json";
    response.body =
        dump_json(nlohmann::json{{"error", "internal error"}, {"request_id", request_id}});
    return;
  }
  if (response.content_type != "application/json") return;
  nlohmann::json body = parse_json_or_discarded(response.body);
  if (!body.is_object()) return;
  body["request_id"] = request_id;
  response.body = dump_json(body);
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  size_t start = 1;  // paths begin with '/'
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    segments.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of a path or query part ('+' is a space in queries only). Beast parses
// HTTP but leaves URLs alone, and Boost 1.74 has no URL library: written here.
std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && text[i] == '+' ? ' ' : text[i]);
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = std::min(query.find('&'), query.size());
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (!pair.empty()) {
      std::string name = percent_decode(pair.substr(0, eq), true);
      std::string value =
          eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
      out.emplace(std::move(name), std::move(value));
    }
    query.remove_prefix(std::min(amp + 1, query.size()));
  }
  return out;
}

}  // namespace

void Router::add(std::string method, std::string_view pattern, Handler handler,
                 std::optional<size_t> body_limit) {
  add_gated(
      std::move(method), pattern,
      [handler = std::move(handler)](const Request&, Decide decide) { decide(handler); },
      body_limit);
}

void Router::add_gated(std::string method, std::string_view pattern, Gate gate,
                       std::optional<size_t> body_limit) {
  routes_.push_back({std::move(method), split_path(pattern), std::move(gate), body_limit});
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& route : routes_) {
    std::string pattern;
    for (const std::string& segment : route.segments) pattern += "/" + segment;
    out.emplace_back(route.method, pattern.empty() ? "/" : pattern);
  }
  return out;
}

const Router::Route* Router::match(std::string_view method, std::string_view path,
                                   std::map<std::string, std::string>& params, int& status) const {
  const std::vector<std::string> segments = split_path(path);
  status = 404;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> captured;
    bool matched = true;
    for (size_t i = 0; i < segments.size() && matched; ++i) {
      const std::string& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        matched = !segments[i].empty();
        if (matched) captured[want.substr(1, want.size() - 2)] = segments[i];
      } else {
        matched = want == segments[i];
      }
    }
    if (!matched) continue;
    if (route.method != method) {
      status = 405;
      continue;
    }
    params = std::move(captured);
    status = 200;
    return &route;
  }
  return nullptr;
}

class Session;

// A connection's read buffer to begin with: headers and body of a typical webhook.
constexpr size_t kReadBuffer = 8 * 1024;
// After a refusal whose body was not read, the connection reads (and drops) at most this much
// for at most kLingerTime before closing: closing with unread bytes would reset the connection
// and the client could lose the answer.
constexpr size_t kLingerBytes = 256 * 1024;
constexpr std::chrono::milliseconds kLingerTime{2000};

struct Server::State : std::enable_shared_from_this<Server::State> {
  ServerOptions options;
  Router router;
  // One per I/O thread, each run by that thread alone (hence the concurrency hint 1).
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  // Keep each thread running between connections; released by stop, so the threads return once
  // their contexts run out of work.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::optional<tcp::acceptor> acceptor;  // on contexts[0]
  size_t next_context = 0;                // where the next connection goes (acceptor's thread)
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> connections{0}, requests{0}, too_large{0}, headers_too_large{0},
      over_capacity{0}, timed_out{0};
  std::atomic<int64_t> pending{0};       // handlers that have not replied
  std::atomic<size_t> open_sessions{0};  // connections open now
  std::atomic<size_t> inflight_body{0};  // body bytes reserved by requests being read or handled
  std::mutex mutex;
  std::condition_variable drained;
  int busy_sessions = 0;  // sessions between a request's headers and its response written
  std::list<std::weak_ptr<Session>> sessions;
  bool stopped = false;
  bool threads_gone = false;  // replies after this are dropped: nothing would run them

  void accept();
  void busy_changed(int delta) {
    std::lock_guard lock(mutex);
    busy_sessions += delta;
    if (busy_sessions == 0) drained.notify_all();
  }
  // Reserves bytes of the in-flight body budget; false (nothing reserved) past it.
  bool reserve_body(size_t bytes) {
    size_t now = inflight_body.load();
    do {
      if (bytes > options.max_inflight_body_bytes - std::min(now, options.max_inflight_body_bytes))
        return false;
    } while (!inflight_body.compare_exchange_weak(now, now + bytes));
    return true;
  }
};

// One client connection: read a request's headers, route it and ask its route's gate, read the
// body only if admitted, hand it to the handler, write the reply, repeat while the client keeps
// the connection alive and the server is not stopping.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, asio::io_context& context, std::shared_ptr<Server::State> state)
      : state_(std::move(state)), context_(context), stream_(std::move(socket)) {
    ++state_->open_sessions;
    beast::error_code ignored;
    const auto remote = stream_.socket().remote_endpoint(ignored);
    if (!ignored) remote_address_ = remote.address().to_string();
    // Beast reads as much as the buffer has room for, starting from 512 bytes: a 1.3 KB webhook
    // would take three reads (system calls). This takes a typical request in one.
    buffer_.reserve(kReadBuffer);
  }
  ~Session() {
    release_body();
    --state_->open_sessions;
  }

  void start() { read_header(); }

  // Closes the connection if it is waiting for a request (used when the server stops).
  void close_if_idle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->close();
    });
  }

  // Closes the connection whatever it is doing.
  void close_now() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

 private:
  void read_header() {
    if (state_->stopping) return close();
    parser_.emplace();
    // The route chooses the body limit once the headers are in. Not boost::none: Beast 1.74
    // compares a Content-Length against an unset limit as if it were exceeded.
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    parser_->header_limit(static_cast<uint32_t>(
        std::min<size_t>(state_->options.header_limit, std::numeric_limits<uint32_t>::max())));
    // The first read waits for an idle keep-alive client; once bytes come, the header timeout.
    stream_.expires_after(buffer_.size() > 0 || !served_any_ ? state_->options.header_timeout
                                                             : state_->options.idle_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      if (buffer_.size() > 0) ++state_->timed_out;
      return close();
    }
    request_id_ = new_request_id();
    if (ec == bhttp::error::header_limit) {
      set_busy(true);
      ++state_->headers_too_large;
      unread_body_ = true;  // the rest of the headers and any body stay unread
      return refuse(Response::json(431, R"({"error":"request header fields too large"})"));
    }
    if (ec) return close();
    set_busy(true);
    const auto& header = parser_->get();
    keep_alive_ = header.keep_alive();
    version_ = header.version();
    unread_body_ = !parser_->is_done();
    head_ = Request{};
    head_.method = std::string(header.method_string());
    head_.target = std::string(header.target());
    const std::string_view target = head_.target;
    const size_t question = target.find('?');
    head_.path = percent_decode(target.substr(0, question), false);
    if (question != std::string_view::npos) head_.query = parse_query(target.substr(question + 1));
    for (const auto& field : header) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      head_.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    head_.remote_address = remote_address_;
    head_.request_id = request_id_;

    int status = 404;
    const Router::Route* route =
        state_->router.match(head_.method, head_.path, head_.params, status);
    if (route == nullptr) {
      return refuse(Response::json(status, status == 405 ? R"({"error":"method not allowed"})"
                                                         : R"({"error":"not found"})"));
    }
    const size_t limit = route->body_limit.value_or(state_->options.body_limit);
    parser_->body_limit(limit);
    const auto length = parser_->content_length();
    if (length && *length > limit) return too_large();
    // A chunked body may grow up to the route's limit: that much is held for it.
    const size_t needed = !unread_body_ ? 0 : length ? static_cast<size_t>(*length) : limit;
    if (needed > 0 && !state_->reserve_body(needed)) {
      ++state_->over_capacity;
      Response busy = Response::json(503, R"({"error":"server busy, try again later"})");
      busy.headers.emplace_back("Retry-After", "1");
      return refuse(std::move(busy));
    }
    reserved_ = needed;
    // The gate is the server's own code: no timeout while it decides.
    stream_.expires_never();
    // A gate that decides at once (on this thread) continues here without a queue hop.
    // At most once: a gate that throws after deciding keeps its decision.
    auto decided = std::make_shared<std::atomic<bool>>(false);
    Decide decide = [self = shared_from_this(), decided](Decision decision) {
      if (decided->exchange(true)) return;
      if (self->context_.get_executor().running_in_this_thread()) {
        return self->on_decision(std::move(decision));
      }
      std::lock_guard lock(self->state_->mutex);
      if (self->state_->threads_gone) return;
      asio::post(self->stream_.get_executor(), [self, decision = std::move(decision)]() mutable {
        self->on_decision(std::move(decision));
      });
    };
    // The barrier of a gate: one that throws refuses its request with a 500.
    try {
      route->gate(head_, decide);
    } catch (...) {
      decide(internal_error(current_exception_text()));
    }
  }

  void on_decision(Decision decision) {
    if (auto* refusal = std::get_if<Response>(&decision)) return refuse(std::move(*refusal));
    handler_ = std::move(std::get<Handler>(decision));
    if (!unread_body_) return dispatch();
    // A client that waits for "100 Continue" sends its body only now that it is wanted.
    const auto expect = head_.header("expect");
    if (version_ >= 11 && expect &&
        beast::iequals(beast::string_view(expect->data(), expect->size()), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(state_->options.body_timeout);
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = shared_from_this()](beast::error_code ec, size_t) {
                                 if (ec) return self->close();
                                 self->read_body();
                               });
    }
    read_body();
  }

  void read_body() {
    stream_.expires_after(state_->options.body_timeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) return too_large();
    if (ec == beast::error::timeout) ++state_->timed_out;
    if (ec) {
      set_busy(false);
      return close();
    }
    unread_body_ = false;
    stream_.expires_never();
    head_.body = std::move(parser_->get().body());
    dispatch();
  }

  void too_large() {
    ++state_->too_large;
    refuse(Response::json(413, R"({"error":"request body too large"})"));
  }

  // Answers without running a handler; a connection whose request was not read to its end
  // cannot carry another one.
  void refuse(Response response) {
    if (unread_body_) keep_alive_ = false;
    write(std::move(response));
  }

  void dispatch() {
    ++state_->pending;
    // The reply may come from any thread, at most once; it is posted to this session's context.
    auto replied = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [self = shared_from_this(), replied](Response response) {
      if (replied->exchange(true)) return;
      --self->state_->pending;
      std::lock_guard lock(self->state_->mutex);
      if (self->state_->threads_gone) return;
      asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->write(std::move(response));
      });
    };
    Handler handler = std::move(handler_);
    // The barrier: a handler that throws answers 500 (once: a reply it sent first stands).
    answer_guarded(reply, [&] { handler(std::move(head_), reply); });
  }

  void write(Response response) {
    auto message = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(response.status), version_);
    mark_server_error(response, request_id_);
    message->set(bhttp::field::server, "crmsync");
    message->set("X-Request-Id", request_id_);
    message->set(bhttp::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) message->set(name, value);
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive_ && !state_->stopping);
    message->prepare_payload();
    ++state_->requests;
    stream_.expires_after(state_->options.body_timeout);
    bhttp::async_write(stream_, *message,
                       [self = shared_from_this(), message](beast::error_code ec, size_t) {
                         self->served_any_ = true;
                         self->set_busy(false);
                         if (ec) return self->close();
                         if (self->unread_body_) return self->linger();
                         if (!message->keep_alive()) return self->close();
                         self->read_header();
                       });
  }

  // Stops sending, then drops what the client still sends (bounded) until it closes too.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    linger_.resize(4096);
    stream_.async_read_some(asio::buffer(linger_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ >= kLingerBytes) return self->close();
                              self->linger();
                            });
  }

  void release_body() {
    state_->inflight_body -= reserved_;
    reserved_ = 0;
  }

  void set_busy(bool busy) {
    if (!busy) release_body();
    if (busy == busy_) return;
    busy_ = busy;
    state_->busy_changed(busy ? 1 : -1);
  }

  void close() {
    set_busy(false);
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  // Declared first so it is destroyed last: the stream's timer belongs to the state's io_context,
  // and a session that outlives the server (a reply still queued on another pool) may hold the
  // last reference to that state.
  std::shared_ptr<Server::State> state_;
  asio::io_context& context_;  // the one this connection runs on
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request head_;                // the request being served: headers first, its body once admitted
  Handler handler_;             // what its gate admitted it to
  size_t reserved_ = 0;         // its share of the in-flight body budget
  std::string remote_address_;  // of the peer, read once: one system call per connection
  std::string request_id_;      // of the request being served
  std::vector<char> linger_;    // what a refused client still sends, dropped
  size_t lingered_ = 0;
  bool keep_alive_ = false;
  bool busy_ = false;
  bool served_any_ = false;
  bool unread_body_ = false;  // the request's body (or the rest of its headers) was not read
  unsigned version_ = 11;
};

// Answers a connection past max_connections without a session: a 503 that fits any socket's
// send buffer, written without waiting, then closed.
void refuse_connection(tcp::socket& socket) {
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nServer: crmsync\r\nContent-Type: application/json\r\n"
      "Retry-After: 1\r\nConnection: close\r\nContent-Length: 40\r\n\r\n"
      R"({"error":"too many connections, retry"})";
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void Server::State::accept() {
  // Round robin over the threads' contexts.
  asio::io_context& context = *contexts[next_context++ % contexts.size()];
  acceptor->async_accept(context, [this, &context](beast::error_code ec, tcp::socket socket) {
    if (!ec && !stopping && open_sessions >= options.max_connections) {
      ++over_capacity;
      refuse_connection(socket);
    } else if (!ec && !stopping) {
      ++connections;
      auto session = std::make_shared<Session>(std::move(socket), context, shared_from_this());
      {
        std::lock_guard lock(mutex);
        sessions.remove_if([](const std::weak_ptr<Session>& s) { return s.expired(); });
        sessions.push_back(session);
      }
      session->start();
    }
    if (acceptor->is_open() && !stopping) accept();
  });
}

Server::Server(std::shared_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options, Router router) {
  auto state = std::make_shared<State>();
  state->options = options;
  state->router = std::move(router);
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    state->contexts.push_back(std::make_unique<asio::io_context>(1));
    state->keep_running.push_back(asio::make_work_guard(*state->contexts.back()));
  }
  state->acceptor.emplace(*state->contexts.front());
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) return fail(CRMSYNC_E_INVALID_CONFIG, "bad listen address '" + options.address + "'");
  const tcp::endpoint endpoint(address, options.port);
  auto& acceptor = *state->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(CRMSYNC_E_UNAVAILABLE, "cannot listen on " + options.address + ":" +
                                           std::to_string(options.port) + ": " + ec.message());
  }
  std::unique_ptr<Server> server(new Server(state));
  state->accept();
  for (auto& context : state->contexts) {
    state->threads.emplace_back([state, &io = *context] {
      pthread_setname_np(pthread_self(), "crmsync-io");  // for top -H and perf
      // The thread's barrier (handlers have their own): what escapes a session is logged, and
      // the thread serves on.
      for (;;) {
        try {
          io.run();
          return;
        } catch (...) {
          std::fprintf(stderr, "crmsync: server: internal error: %s\n",
                       current_exception_text().c_str());
        }
      }
    });
  }
  return server;
}

Server::~Server() {
  stop(std::chrono::milliseconds(0));
}

uint16_t Server::port() const {
  beast::error_code ec;
  return state_->acceptor->local_endpoint(ec).port();
}

void Server::stop(std::chrono::milliseconds grace) {
  State& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopped) return;
    s.stopped = true;
  }
  s.stopping = true;
  asio::post(s.acceptor->get_executor(), [&s] {
    beast::error_code ignored;
    s.acceptor->close(ignored);
  });
  std::vector<std::shared_ptr<Session>> alive;
  {
    std::lock_guard lock(s.mutex);
    for (auto& weak : s.sessions) {
      if (auto session = weak.lock()) alive.push_back(std::move(session));
    }
  }
  for (auto& session : alive) session->close_if_idle();
  {
    std::unique_lock lock(s.mutex);
    s.drained.wait_for(lock, grace, [&s] { return s.busy_sessions == 0; });
  }
  for (auto& session : alive) session->close_now();
  alive.clear();
  // With the acceptor and every socket closed the threads run out of work and return; a reply
  // that comes later finds threads_gone and is dropped, so no handler is left holding a session.
  for (auto& guard : s.keep_running) guard.reset();
  for (auto& thread : s.threads) {
    if (thread.joinable()) thread.join();
  }
  {
    std::lock_guard lock(s.mutex);
    s.threads_gone = true;
  }
  for (auto& context : s.contexts) {
    context->restart();
    context->poll();
  }
}

ServerStats Server::stats() const {
  return ServerStats{
      .connections = state_->connections,
      .requests = state_->requests,
      .too_large = state_->too_large,
      .headers_too_large = state_->headers_too_large,
      .over_capacity = state_->over_capacity,
      .timed_out = state_->timed_out,
      .handler_pending = static_cast<uint64_t>(std::max<int64_t>(0, state_->pending))};
}

}  // namespace crmsync::server
