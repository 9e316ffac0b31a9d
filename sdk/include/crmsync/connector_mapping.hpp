// crmsync connector SDK: what a CRM object maps to, and its delivery to the host, header-only.
//
// A connector's mapping function turns one CRM object into a Mapped: a Sale (a record for the
// host), a NotSale (skipped, with the reason the admin sees) or an Unreadable (a failure, with
// the reason and the raw object). Keeping the mapping pure (no sink, no host) lets fetch,
// fetch_object, parse_webhook and map_response share it, and tests call it directly.
#ifndef CRMSYNC_CONNECTOR_MAPPING_HPP
#define CRMSYNC_CONNECTOR_MAPPING_HPP

#include <crmsync/connector.hpp>

#include <string>
#include <string_view>
#include <variant>

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

}  // namespace crmsync::sdk

#endif  // CRMSYNC_CONNECTOR_MAPPING_HPP
