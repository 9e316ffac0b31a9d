// iikoCloud order → sale mapping (issue 7: what is a sale, amount, time, phone, loyalty card),
// shared by fetch, parse_webhook and map_response, and the iiko time texts it needs.
//
// Field names follow the iikoCloud OpenAPI schemas (fixtures/iiko): an OrderInfo
// {id, organizationId, timestamp, creationStatus, errorInfo, order} wraps a delivery order
// {status, isDeleted, sum, phone, customer, items[], discounts[], payments[], whenClosed, ...};
// a table order's TableOrderInfo has the same wrapper and an order with its own statuses.
// Money arrives as JSON numbers; times as "yyyy-MM-dd HH:mm:ss.fff" in the organization's local
// time, without a zone.
#ifndef CRMSYNC_PLUGINS_IIKO_IIKO_MAPPING_H
#define CRMSYNC_PLUGINS_IIKO_IIKO_MAPPING_H

#include <crmsync/connector.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_mapping.hpp>
#include <crmsync/connector_money.hpp>
#include <crmsync/connector_time.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace crmsync::iiko {

// The JSON document type of the connector.
using Json = sdk::Json;
// What one order maps to: a sale, not a sale (open, cancelled, deleted) or unreadable.
using sdk::Mapped;
using sdk::NotSale;
using sdk::Sale;
using sdk::Unreadable;

// Which iikoCloud order an object is: a delivery or a table (hall) order.
enum class OrderKind { delivery, table };

// What map_order found besides the mapping: a sum that disagrees with the order's lines.
struct Check {
  std::string warning;  // empty when items, modifiers and discounts add up to the order's sum
};

// How an order's card is treated (the `card_phone_map` setting): give it to the host as
// customer_ref for its card → phone table, or leave cards out.
struct MapOptions {
  std::string currency;
  bool card_phone_map = true;
};

namespace internal {

// The SDK's readers, under the names this file uses.
using sdk::member;
using sdk::minor_text;
using sdk::money_minor;

// "yyyy-MM-dd HH:mm:ss[.fff]" → seconds of that wall time counted as if it were UTC (the civil
// time as a number); nullopt when malformed.
inline std::optional<int64_t> local_seconds(std::string_view text) {
  if (text.size() < 19 || text[10] != ' ') return std::nullopt;
  return sdk::parse_local_time(text);
}

// Seconds of civil time → "yyyy-MM-dd HH:mm:ss.fff" (milliseconds always 000), the API's format.
inline std::string local_text(int64_t civil_seconds) {
  return sdk::format_local_time(civil_seconds, ' ') + ".000";
}

// An iiko local time as the record's occurred_at: "YYYY-MM-DD HH:MM:SS" (read by the host in the
// integration's zone), or with the fixed offset the settings give ("+03:00"); nullopt if malformed.
inline std::optional<std::string> occurred_at(std::string_view text, std::string_view offset) {
  if (!local_seconds(text)) return std::nullopt;
  std::string out(text.substr(0, 19));
  if (!offset.empty()) {
    out[10] = 'T';
    out += offset;
  }
  return out;
}

// True when an item or modifier carries a `deleted` object (iiko keeps removed positions in the
// order, with the deletion's method, and leaves them out of the sum).
inline bool deleted_position(const Json& position) {
  const Json& deleted = member(position, "deleted");
  return !deleted.is_null() && !(deleted.is_boolean() && !deleted.get<bool>());
}

// The status of an order that is a sale, and why other statuses are not.
inline std::optional<std::string> not_sale_reason(OrderKind kind, const std::string& status) {
  if (status == "Closed") return std::nullopt;
  if (status == "Cancelled") return "Not a sale: the order was cancelled";
  if (kind == OrderKind::table && status == "Deleted") return "Not a sale: the order was deleted";
  return "Not a sale: the order is not closed yet (status " + status + ")";
}

}  // namespace internal

// Maps one OrderInfo (a by_revision / by_delivery_date_and_status / by_id element, or a webhook's
// eventInfo). A sale is an order in status Closed that is not deleted; its amount is the order's
// `sum` (what the guest paid after discounts), cross-checked against its items, modifiers and
// discounts (check->warning when they disagree); its time is `whenClosed` (fallback_time when the
// order has none: a webhook's eventTime, already RFC 3339 UTC); its phone the order's `phone`,
// else the customer's; a customer known only by a loyalty card gives customer_ref = the card.
inline Mapped map_order(const Json& info, OrderKind kind, const MapOptions& options,
                        std::string_view offset, const std::string& fallback_time, Check* check) {
  using namespace internal;
  if (!info.is_object()) return Unreadable{"", "An order is not a JSON object"};
  const Json& id_json = member(info, "id");
  if (!id_json.is_string() || id_json.get_ref<const std::string&>().empty()) {
    return Unreadable{"", "An order has no id"};
  }
  const std::string id = id_json.get<std::string>();
  const Json& order = member(info, "order");
  if (order.is_null()) {
    const Json& creation = member(info, "creationStatus");
    return NotSale{id, "Not a sale: the order has no content (creationStatus " +
                           (creation.is_string() ? creation.get<std::string>() : "unknown") + ")"};
  }
  if (!order.is_object()) return Unreadable{id, "order is not an object"};
  const Json& status = member(order, "status");
  if (!status.is_string()) return Unreadable{id, "order.status is missing"};
  if (auto reason = not_sale_reason(kind, status.get<std::string>())) return NotSale{id, *reason};
  const Json& is_deleted = member(order, "isDeleted");
  if (is_deleted.is_boolean() && is_deleted.get<bool>()) {
    return NotSale{id, "Not a sale: the order is deleted"};
  }

  Sale sale;
  sdk::Record& r = sale.record;
  r.external_id = id;
  const auto sum = money_minor(member(order, "sum"));
  if (!sum) return Unreadable{id, "order.sum is not an amount"};
  if (*sum <= 0) return NotSale{id, "Not a sale: the order's sum is " + minor_text(*sum)};
  r.amount_minor = *sum;

  const Json& items = member(order, "items");
  if (!items.is_null() && !items.is_array()) return Unreadable{id, "order.items is not a list"};
  int64_t expected = 0;
  for (size_t i = 0; items.is_array() && i < items.size(); ++i) {
    const Json& item = items[i];
    if (deleted_position(item)) continue;
    const auto cost = money_minor(member(item, "cost"));
    if (!cost)
      return Unreadable{id, "order.items[" + std::to_string(i) + "].cost is not an amount"};
    int64_t line = *cost;
    const Json& modifiers = member(item, "modifiers");
    for (size_t m = 0; modifiers.is_array() && m < modifiers.size(); ++m) {
      if (deleted_position(modifiers[m])) continue;
      const Json& result = member(modifiers[m], "resultSum");
      if (result.is_null()) continue;
      const auto modifier = money_minor(result);
      if (!modifier) {
        return Unreadable{id, "order.items[" + std::to_string(i) + "].modifiers[" +
                                  std::to_string(m) + "].resultSum is not an amount"};
      }
      line += *modifier;
    }
    expected += line;
    sdk::LineItem out;
    const Json& name = member(member(item, "product"), "name");
    out.name = name.is_string() ? name.get<std::string>() : std::string();
    out.quantity = sdk::number_text(member(item, "amount")).value_or("");
    out.amount_minor = line;
    if (r.description.empty()) r.description = out.name;
    r.items.push_back(std::move(out));
  }
  const Json& discounts = member(order, "discounts");
  for (size_t i = 0; discounts.is_array() && i < discounts.size(); ++i) {
    const auto discount = money_minor(member(discounts[i], "sum"));
    if (!discount) {
      return Unreadable{id, "order.discounts[" + std::to_string(i) + "].sum is not an amount"};
    }
    expected -= *discount;
  }
  if (check) {
    check->warning.clear();
    if (items.is_array() && expected != *sum) {
      check->warning = "iiko order " + id + ": sum " + minor_text(*sum) +
                       " differs from its items, modifiers and discounts (" + minor_text(expected) +
                       "); the order's sum is kept";
    }
  }

  const Json& closed = member(order, "whenClosed");
  if (closed.is_string() && !closed.get_ref<const std::string&>().empty()) {
    const auto at = occurred_at(closed.get<std::string>(), offset);
    if (!at) return Unreadable{id, "order.whenClosed is not yyyy-MM-dd HH:mm:ss.fff"};
    r.occurred_at = *at;
  } else if (!fallback_time.empty()) {
    r.occurred_at = fallback_time;
  } else {
    return Unreadable{id, "A closed order without whenClosed"};
  }

  const Json& customer = member(order, "customer");
  for (const Json* phone : {&member(order, "phone"), &member(customer, "phone")}) {
    if (phone->is_string() && !phone->get_ref<const std::string&>().empty()) {
      r.customer_phone = phone->get<std::string>();
      break;
    }
  }
  const Json& card = member(customer, "cardNumber");
  if (r.customer_phone.empty() && options.card_phone_map && card.is_string()) {
    r.customer_ref = card.get<std::string>();
  }
  if (r.description.empty()) {
    const Json& number = member(order, "number");
    r.description = "Заказ №" + (number.is_null() ? id : sdk::raw_text(number));
  }
  r.currency = options.currency;
  r.raw_json = sdk::raw_text(info);
  return sale;
}

}  // namespace crmsync::iiko

#endif  // CRMSYNC_PLUGINS_IIKO_IIKO_MAPPING_H
