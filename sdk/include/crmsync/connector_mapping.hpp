// crmsync connector SDK: what a CRM object maps to, and its delivery to the host, header-only.
//
// A connector's mapping function turns one CRM object into a Mapped: a Sale (a record for the
// host), a NotSale (skipped, with the reason the admin sees) or an Unreadable (a failure, with
// the reason and the raw object). Keeping the mapping pure (no sink, no host) lets fetch,
// fetch_object, parse_webhook and map_response share it, and tests call it directly.
#ifndef CRMSYNC_CONNECTOR_MAPPING_HPP
#define CRMSYNC_CONNECTOR_MAPPING_HPP

#include <crmsync/connector.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace crmsync::sdk {

// An object that is a sale.
struct Sale {
  Record record;
};

// An object that is not a sale (not paid, cancelled, deleted, ...), with the reason.
struct NotSale {
  std::string external_id;
  std::string reason;
};

// An object that cannot be read, with the reason.
struct Unreadable {
  std::string external_id;  // empty when the object has no readable id
  std::string reason;
};

// What one object maps to.
using Mapped = std::variant<Sale, NotSale, Unreadable>;

// Hands a mapped object to the sink: record, skip, or fail with raw_json (the object as
// received; empty where it must not be kept, such as medical data).
inline void deliver(const Mapped& mapped, const Sink& sink, std::string_view raw_json) {
  if (const auto* sale = std::get_if<Sale>(&mapped)) {
    sink.record(sale->record);
  } else if (const auto* skip = std::get_if<NotSale>(&mapped)) {
    sink.skip(skip->external_id, skip->reason);
  } else {
    const auto& bad = std::get<Unreadable>(mapped);
    sink.fail(bad.external_id, bad.reason, raw_json);
  }
}

// How deep an object may nest for raw_text to write it out (the host's logs keep less anyway).
inline constexpr std::size_t kRawDepth = 64;

// The object as raw JSON for sink.fail and records' raw_json: its dump() when it nests at most
// kRawDepth levels, else a short note. Measured without recursion, so a body nested 100,000
// levels deep (which the parser reads with a stack of its own) costs no stack here; dump() alone
// would recurse once per level.
inline std::string raw_text(const nlohmann::json& object) {
  std::vector<std::pair<const nlohmann::json*, std::size_t>> pending{{&object, 1}};
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    if (depth > kRawDepth) {
      return R"({"crmsync":"object nested more than 64 levels deep, not kept"})";
    }
    for (const auto& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace crmsync::sdk

#endif  // CRMSYNC_CONNECTOR_MAPPING_HPP
