// YCLIENTS record → sale mapping (issue: what is a sale, amount, time, phone), shared by fetch,
// fetch_object, parse_webhook and map_response.
//
// YCLIENTS sends the same field in several JSON types (DESIGN §9): flags as bool or 0/1, ids as
// numbers or strings, money as numbers in records and strings in transactions, phones with or
// without "+" or as a JSON number. The SDK's readers (connector_json.hpp) accept exactly those
// spellings and nothing else, so a field that changes type again is reported, not guessed.
#ifndef CRMSYNC_PLUGINS_YCLIENTS_YCLIENTS_MAPPING_H
#define CRMSYNC_PLUGINS_YCLIENTS_YCLIENTS_MAPPING_H

#include <crmsync/connector.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_mapping.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace crmsync::yclients {

// The JSON document type of the connector.
using Json = sdk::Json;
// What one record maps to: a sale, not a sale (not attended, deleted, nothing paid) or unreadable.
using sdk::Mapped;
using sdk::NotSale;
using sdk::Sale;
using sdk::Unreadable;

namespace internal {

// Why a record with this attendance is not a sale.
inline std::string attendance_reason(int64_t attendance) {
  switch (attendance) {
    case -1:
      return "Not a sale: the client did not come (attendance -1)";
    case 0:
      return "Not a sale: the visit has not happened yet (attendance 0)";
    case 2:
      return "Not a sale: the visit is confirmed but not done (attendance 2)";
    default:
      return "Not a sale: unknown attendance " + std::to_string(attendance);
  }
}

// Adds the lines of services[] or goods_transactions[] to the sale; false with `why` when a
// line's cost cannot be read.
inline bool add_lines(const Json& lines, const char* field, sdk::Record& sale, int64_t& total,
                      std::string& why) {
  if (lines.is_null()) return true;
  if (!lines.is_array()) {
    why = std::string(field) + " is not a list";
    return false;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const Json& line = lines[i];
    const auto cost = sdk::money_minor(sdk::member(line, "cost"));
    if (!cost) {
      why = std::string(field) + "[" + std::to_string(i) + "].cost is not an amount";
      return false;
    }
    total += *cost;
    sdk::LineItem item;
    const Json& title = sdk::member(line, "title");
    item.name = title.is_string() ? title.get<std::string>() : std::string();
    const Json& quantity = sdk::member(line, "amount");
    if (quantity.is_number_integer() || quantity.is_number_unsigned()) {
      const int64_t n = quantity.get<int64_t>();
      item.quantity = std::to_string(n < 0 ? -n : n);  // goods sales count out of stock: -1
    }
    item.amount_minor = *cost;
    if (sale.description.empty()) sale.description = item.name;
    sale.items.push_back(std::move(item));
  }
  return true;
}

}  // namespace internal

// Maps one YCLIENTS record (an element of the records list, or a webhook's data). A sale is a
// record the client attended (attendance 1) that is not deleted; its amount is what its services
// and goods cost after discounts; its time is `datetime` with its offset, else the local `date`
// (read by the host in the integration's zone); its phone is client.phone, in international form.
inline Mapped map_record(const Json& record, const std::string& currency) {
  using namespace internal;
  using sdk::member;
  if (!record.is_object()) return Unreadable{"", "A record is not a JSON object"};
  const auto id = sdk::id_text(member(record, "id"));
  if (!id) return Unreadable{"", "A record has no readable id"};
  const Json& deleted_field = member(record, "deleted");
  const auto deleted =
      deleted_field.is_null() ? std::optional<bool>(false) : sdk::flag(deleted_field);
  if (!deleted) return Unreadable{*id, "deleted is neither a bool nor 0/1"};
  if (*deleted) return NotSale{*id, "Not a sale: the record is deleted"};
  const auto attendance = sdk::integer_or_text(member(record, "attendance"));
  if (!attendance) return Unreadable{*id, "attendance is missing or not a number"};
  if (*attendance != 1) return NotSale{*id, attendance_reason(*attendance)};

  Sale sale;
  sdk::Record& r = sale.record;
  r.external_id = *id;
  int64_t total = 0;
  std::string why;
  if (!add_lines(member(record, "services"), "services", r, total, why) ||
      !add_lines(member(record, "goods_transactions"), "goods_transactions", r, total, why)) {
    return Unreadable{*id, why};
  }
  if (total <= 0) return NotSale{*id, "Not a sale: nothing was paid (no services or goods cost)"};
  r.amount_minor = total;

  const Json& datetime = member(record, "datetime");
  const Json& local = member(record, "date");
  if (datetime.is_string() && !datetime.get_ref<const std::string&>().empty()) {
    r.occurred_at = datetime.get<std::string>();
  } else if (local.is_string() && !local.get_ref<const std::string&>().empty()) {
    r.occurred_at = local.get<std::string>();
  } else {
    return Unreadable{*id, "The record has neither datetime nor date"};
  }

  const Json& phone = member(member(record, "client"), "phone");
  if (phone.is_string()) {
    r.customer_phone = phone.get<std::string>();
  } else if (phone.is_number_unsigned() || phone.is_number_integer()) {
    r.customer_phone = phone.dump();
  } else if (!phone.is_null()) {
    return Unreadable{*id, "client.phone is neither text nor a number"};
  }
  // YCLIENTS keeps phones in international form and drops the "+" in some answers ("7916…" next
  // to "+7916…" for the same client): put it back, or a Russian "7…" would read as a local number.
  if (r.customer_phone.size() >= 11 &&
      r.customer_phone.find_first_not_of("0123456789") == std::string::npos) {
    r.customer_phone.insert(0, "+");
  }
  r.currency = currency;
  r.raw_json = sdk::raw_text(record);
  return sale;
}

}  // namespace crmsync::yclients

#endif  // CRMSYNC_PLUGINS_YCLIENTS_YCLIENTS_MAPPING_H
