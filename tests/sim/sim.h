// The CRM simulator's framework: requests and replies, routes, the simulated clock, deterministic
// randomness, and the Provider interface each simulated CRM implements in providers/<name>.cpp.
#ifndef CRMSYNC_TESTS_SIM_SIM_H
#define CRMSYNC_TESTS_SIM_SIM_H

#include "base/result.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::sim {

// Insertion-ordered, so bodies list fields in the order the providers send them.
using Json = nlohmann::ordered_json;
using SimTime = std::chrono::sys_seconds;

// A request as handlers see it, already split: path below the provider prefix, decoded query.
struct SimRequest {
  std::string method;
  std::string target;                         // as received, e.g. /yclients/api/v1/...?page=2
  std::string path;                           // below the provider prefix: /api/v1/...
  std::map<std::string, std::string> query;   // percent-decoded
  std::map<std::string, std::string> params;  // from {name} segments of the route
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool empty_page = false;   // fault: answer a list endpoint with an empty page
  bool repeat_page = false;  // fault: answer a list endpoint with the previous page again

  // The first header with this lower-case name, or "".
  std::string header(std::string_view lower_name) const;
  // A positive integer query parameter, fallback when absent; nullopt when present but invalid.
  std::optional<int64_t> int_param(const std::string& name, int64_t fallback) const;
};

// What to send back, and how.
struct Reply {
  enum class Action {
    respond,  // send the response (after delay)
    reset,    // abort the connection with a TCP RST, no response
    hang,     // keep the connection silent for delay, then close it without a response
  };
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds delay{0};
  Action action = Action::respond;

  // A JSON reply.
  static Reply json(int status, const Json& body);
};

// A route handler. Runs under the simulator's lock: it may read and change provider state.
using Handler = std::function<Reply(const SimRequest&)>;

// The routes of one provider, matched by method and by path segments ("{name}" captures one).
class Routes {
 public:
  // endpoint names the route in counters and faults, e.g. "records".
  void add(std::string method, std::string pattern, std::string endpoint, Handler handler);

  // A matched route: its endpoint name and handler; params receives the captures.
  struct Match {
    const std::string* endpoint;
    const Handler* handler;
  };
  std::optional<Match> match(const std::string& method, const std::string& path,
                             std::map<std::string, std::string>& params) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    std::string endpoint;
    Handler handler;
  };
  std::vector<Route> routes_;
};

// Data-set settings shared by every provider (command-line flags).
struct DataOptions {
  uint64_t seed = 42;
  int companies = 2;            // businesses (YCLIENTS companies, iiko organizations...)
  int records = 500;            // initial records per company
  int history_days = 30;        // initial records spread over this many days before start
  double unpaid_share = 0.2;    // records that are not (fully) paid
  double deleted_share = 0.05;  // records marked deleted
  double no_show_share = 0.1;   // records whose client did not come
  double new_per_hour = 6;      // records each company gains per simulated hour
  SimTime start{};              // simulated "now" at start
};

// A small deterministic generator (splitmix64): the same seed gives the same data on every
// platform, which std::*_distribution does not promise.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) { return next() % n; }
  // Uniform in [lo, hi].
  int64_t between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo + 1)));
  }
  // True with probability p.
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }
  // One element of a non-empty list.
  template <class T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

 private:
  uint64_t state_;
};

// Mixes several values into one seed.
uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0);

// One simulated CRM. Every method runs under the simulator's lock.
class Provider {
 public:
  virtual ~Provider() = default;
  // The URL prefix and name in counters, e.g. "yclients".
  virtual std::string name() const = 0;
  // Adds the provider's own command-line flags (credentials and such).
  virtual void add_flags(CLI::App& app) = 0;
  // (Re)builds the initial data set; called at start and on /_admin/reset.
  virtual void generate(const DataOptions& options) = 0;
  // Registers the API routes; called once after generate().
  virtual void routes(Routes& routes) = 0;
  // Creates what appears in the CRM between two simulated times (new records).
  virtual void advance(SimTime from, SimTime to) = 0;
  // /_admin/records: creates records now; params are provider-specific (company_id, count...).
  virtual Result<Json> add_records(const Json& params, SimTime now) = 0;
  // /_admin/webhook: the body the CRM would post for params (record ids, status...): JSON sent
  // as application/json, or {"content_type", "body" (text), "headers" (optional object)} sent
  // as that raw body with those headers (form-encoded bodies, providers' auth headers).
  virtual Result<Json> webhook_payload(const Json& params) = 0;
  // /_admin/state: what the CRM holds now that tests want to check (hooks, card balances...).
  virtual Json state() const = 0;
  // An error reply in the provider's own envelope (faults, auth failures).
  virtual Reply error(int status, const std::string& message) const = 0;
};

// The providers this simulator serves, one per providers/<name>.cpp.
std::vector<std::unique_ptr<Provider>> make_providers();

// Formats a time as "YYYY-MM-DD HH:MM:SS" in a zone with a fixed offset (hours).
std::string local_text(SimTime t, int offset_hours);
// Formats kopecks as "1500.50" (the decimal text CRMs send amounts in).
std::string money_text(int64_t kopecks);
// Formats an offset as "+03:00" (colon) or "+0300" (no colon).
std::string offset_text(int offset_hours, bool colon);
// Parses "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM|±HHMM]";
// times without an offset are local at default_offset_hours.
std::optional<SimTime> parse_time(std::string_view text, int default_offset_hours);

}  // namespace crmsync::sim

#endif  // CRMSYNC_TESTS_SIM_SIM_H
