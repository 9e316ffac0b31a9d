// The HTTP/1.1 server of `crmsync serve` (Boost.Beast on Boost.Asio): keep-alive connections,
// routes matched by method and path segments on the headers, a gate per route that may refuse a
// request (authentication) before its body is read, a body limit chosen by route before the body
// is read (413 above it), header and body read timeouts so a slow client cannot hold a
// connection open, caps on connections (503 and close past it), on body bytes held in memory
// (503 past it) and on the header size (431), handlers that may answer later from another
// thread (the webhook receiver answers once its request is durably stored), and a graceful stop
// that lets requests in flight finish.
//
// Every request gets an id, answered in the X-Request-Id header. A handler that throws, or whose
// work throws on another thread inside answer_guarded, answers 500 and the process lives on.
// A 500's body is the host's detail (an exception's text, an SQL error): it goes to the host's log
// with the request id, and the client gets {"error": "internal error", "request_id": ...}. Other
// 5xx JSON bodies keep their message and get the "request_id" member too.
#ifndef CRMSYNC_CORE_SERVER_SERVER_H
#define CRMSYNC_CORE_SERVER_SERVER_H

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.h"

namespace crmsync::server {

// A request as handlers see it.
struct Request {
  std::string method;                                        // "GET", "POST"...
  std::string target;                                        // as received: path and query
  std::string path;                                          // percent-decoded, no query
  std::map<std::string, std::string> query;                  // percent-decoded
  std::map<std::string, std::string> params;                 // the route's {name} captures
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote_address;
  std::string request_id;  // 16 hex digits, also in the answer's X-Request-Id header

  // The first header with this lower-case name.
  std::optional<std::string_view> header(std::string_view lower_name) const;
};

// What a handler answers.
struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // A JSON body (already serialized).
  static Response json(int status, std::string body);
  // A plain-text body.
  static Response text(int status, std::string body);
};

// Sends the answer. Call it exactly once, from any thread, at any time after the handler got it.
using Reply = std::function<void(Response)>;
// Handles one request. Runs on a server thread: do slow work elsewhere and reply from there.
using Handler = std::function<void(Request&& request, Reply reply)>;

// The answer to an exception that escaped a request's handling: a 500 whose body the server logs
// with the request id and replaces with a generic message (see above).
Response internal_error(std::string_view detail);

// Runs work(), which answers through reply, on whatever thread calls this (a handler's worker):
// an exception escaping work is answered with internal_error instead of ending that thread.
template <class Work>
void answer_guarded(const Reply& reply, Work&& work) noexcept {
  try {
    std::forward<Work>(work)();
  } catch (const std::exception& e) {
    reply(internal_error(e.what()));
  } catch (...) {
    reply(internal_error("an exception that is not a std::exception"));
  }
}

// What a gate decides about a request whose headers arrived: a response refuses it (its body is
// never read, and the connection closes if it had one); a handler admits it (the body is read,
// then the handler runs with it).
using Decision = std::variant<Response, Handler>;
// Delivers a gate's decision. Call it exactly once, from any thread.
using Decide = std::function<void(Decision)>;
// Sees a request's method, target, params and headers (its body is still empty) and decides,
// at once or later from another thread (an API key is looked up in the store).
using Gate = std::function<void(const Request& head, Decide decide)>;

// Routes by method and path. A pattern's "{name}" segment captures one non-empty segment into
// Request::params. A path that matches no pattern is 404; one that matches another method is 405.
class Router {
 public:
  // A matched route: what decides on its headers, and its body limit.
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Gate gate;
    std::optional<size_t> body_limit;  // none: ServerOptions::body_limit
  };

  // A route whose every request is admitted to handler.
  void add(std::string method, std::string_view pattern, Handler handler,
           std::optional<size_t> body_limit = std::nullopt);
  // A route whose requests pass gate on their headers first.
  void add_gated(std::string method, std::string_view pattern, Gate gate,
                 std::optional<size_t> body_limit = std::nullopt);

  // The route for method and path, with its captures; nullptr with status 404 or 405.
  const Route* match(std::string_view method, std::string_view path,
                     std::map<std::string, std::string>& params, int& status) const;
  // Every route as (method, pattern), in the order added: for documentation checks.
  std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  std::vector<Route> routes_;
};

// Listener settings.
struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;             // 0: any free port (see Server::port)
  int threads = 2;                  // I/O threads
  size_t body_limit = 1 << 20;      // of a route without a limit of its own
  size_t header_limit = 16 * 1024;  // request line and headers; 431 above it
  // Open connections; one more is answered 503 and closed at once.
  size_t max_connections = 512;
  // Body bytes of requests being read or handled, all connections together (a chunked body
  // counts as its route's limit); a request that would pass it is answered 503 unread.
  size_t max_inflight_body_bytes = 256u << 20;
  // The request line and headers must arrive within header_timeout, the body within
  // body_timeout after them; an idle keep-alive connection closes after idle_timeout.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
};

// Counters of what the server did since it started.
struct ServerStats {
  uint64_t connections = 0;        // accepted
  uint64_t requests = 0;           // answered (any status)
  uint64_t too_large = 0;          // 413
  uint64_t headers_too_large = 0;  // 431
  uint64_t over_capacity = 0;      // 503: past max_connections or max_inflight_body_bytes
  uint64_t timed_out = 0;          // connections closed for a slow request
  uint64_t handler_pending = 0;    // requests whose handler has not replied yet
};

// A running server. Thread-safe.
class Server {
 public:
  // Binds and starts serving on options.threads threads. Errors: the address cannot be bound.
  static Result<std::unique_ptr<Server>> start(const ServerOptions& options, Router router);
  // Stops (as stop(0)) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (useful with port 0).
  uint16_t port() const;

  // Stops accepting, closes idle connections, lets requests in flight finish and answer (with
  // Connection: close) for up to grace, then closes everything and joins the threads.
  // Idempotent.
  void stop(std::chrono::milliseconds grace);

  ServerStats stats() const;

  struct State;  // private; public for the implementation's sessions

 private:
  explicit Server(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_CORE_SERVER_SERVER_H
