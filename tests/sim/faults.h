// Fault injection of the CRM simulator: which requests fail, and how.
#ifndef CRMSYNC_TESTS_SIM_FAULTS_H
#define CRMSYNC_TESTS_SIM_FAULTS_H

#include "sim.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::sim {

// What goes wrong.
enum class FaultKind {
  http_500,       // 500 in the provider's error envelope
  http_429,       // 429 with Retry-After (seconds, or an HTTP-date with retry_after_date)
  slow,           // the normal answer, delay_ms late
  timeout,        // no answer: the connection stays silent for delay_ms, then closes
  reset,          // the connection is reset (TCP RST) without an answer
  truncated,      // the normal answer cut in half (valid HTTP, broken JSON)
  invalid_json,   // 200 with an HTML error page instead of JSON
  expired_token,  // 401 in the provider's envelope, as for an expired token
  empty_page,     // list endpoints answer an empty page (same meta)
  repeat_page,    // list endpoints answer the previous page again
};

// One injected fault rule. It matches requests by provider and endpoint ("*": any); each match
// fires with `probability`; with `count` it fires that many times and is then removed.
struct Fault {
  uint64_t id = 0;
  std::string provider = "*";
  std::string endpoint = "*";
  FaultKind kind = FaultKind::http_500;
  std::optional<uint32_t> count;  // unset: forever (with probability < 1 usually)
  double probability = 1.0;
  uint32_t retry_after_s = 1;
  bool retry_after_date = false;
  uint32_t delay_ms = 0;  // slow: default 2000; timeout: default 30000
};

// Parses a fault from JSON: {provider, endpoint, kind, count, probability, retry_after,
// retry_after_date, delay_ms}. Neither count nor probability given means count 1.
Result<Fault> fault_from_json(const Json& json);
// Parses the --fault flag: "provider/endpoint:kind[,key=value...]" with the JSON field names as
// keys, e.g. "yclients/records:http_429,count=2,retry_after=1".
Result<Fault> fault_from_flag(std::string_view text);
// The JSON form of a fault (as the admin API lists it).
Json fault_to_json(const Fault& fault);

// The active faults; not thread-safe (the simulator's lock guards it).
class FaultSet {
 public:
  // Adds a fault, assigning its id.
  uint64_t add(Fault fault);
  // Removes every fault.
  void clear() { faults_.clear(); }
  // The fault that fires for this request, if any (spends one of its count).
  std::optional<Fault> pick(const std::string& provider, const std::string& endpoint, Rng& rng);
  // All active faults.
  Json list() const;

 private:
  std::vector<Fault> faults_;
  uint64_t next_id_ = 1;
};

}  // namespace crmsync::sim

#endif  // CRMSYNC_TESTS_SIM_FAULTS_H
