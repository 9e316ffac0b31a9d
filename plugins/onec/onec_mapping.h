// 1С → sale mapping, shared by fetch and map_response, for both ways 1С exposes sales: the spec's
// HTTP service (GET /api/transactions: {id, date, customer_phone, amount, items[]}) and the
// standard OData interface (sales documents such as Document_РеализацияТоваровУслуг, whose buyer
// is a Catalog_Контрагенты reference), plus the small value readers they need.
//
// 1С's OData writes "no value" as values, not as null (DESIGN §9): an empty date is
// 0001-01-01T00:00:00 and an empty reference is the all-zero GUID. Times carry no zone: they are
// the infobase's local time, which the host reads in the integration's zone.
#ifndef CRMSYNC_PLUGINS_ONEC_ONEC_MAPPING_H
#define CRMSYNC_PLUGINS_ONEC_ONEC_MAPPING_H

#include <crmsync/connector.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_mapping.hpp>
#include <crmsync/connector_time.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace crmsync::onec {

// The JSON document type of the connector.
using Json = sdk::Json;
// What one object maps to: a sale, not a sale (unposted, marked for deletion) or unreadable.
using sdk::Mapped;
using sdk::NotSale;
using sdk::Sale;
using sdk::Unreadable;

// The all-zero GUID: 1С's empty reference.
inline constexpr std::string_view kEmptyRef = "00000000-0000-0000-0000-000000000000";

namespace internal {

// The SDK's readers, under the names this file uses.
using sdk::member;
using sdk::text_member;

// A money or quantity value (JSON number or decimal string) as decimal text for the host to
// read; nullopt for anything else.
inline std::optional<std::string> decimal_text(const Json& value) {
  if (value.is_string() && !value.get_ref<const std::string&>().empty()) {
    return value.get<std::string>();
  }
  return sdk::number_text(value);
}

// True for a GUID that names something: not empty and not 1С's all-zero empty reference.
inline bool is_ref(std::string_view guid) {
  return !guid.empty() && guid != kEmptyRef;
}

// A 1С GUID "8b9660f6-6332-11ec-ad72-000c29b45b09" (lower- or upper-case hex).
inline bool is_guid(std::string_view guid) {
  if (guid.size() != 36) return false;
  for (size_t i = 0; i < guid.size(); ++i) {
    const char c = guid[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return false;
  }
  return true;
}

// A 1С date-time as the host reads it: zoneless "YYYY-MM-DDTHH:MM:SS[.fff]" becomes local
// "YYYY-MM-DD HH:MM:SS" (the integration's zone); a time with an offset is passed on as given.
// nullopt for 1С's empty date 0001-01-01T00:00:00 and for text that is not a date-time.
inline std::optional<std::string> occurred_at(std::string_view when) {
  if (when.starts_with("0001-01-01")) return std::nullopt;
  if (when.size() < 19) return std::nullopt;
  if (!sdk::parse_local_time(when.substr(0, 19))) return std::nullopt;
  std::string_view rest = when.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') rest.remove_prefix(1);
  }
  if (rest.empty()) {
    std::string local(when.substr(0, 19));
    local[10] = ' ';
    return local;
  }
  if (rest == "Z" || ((rest.front() == '+' || rest.front() == '-') && rest.size() >= 3)) {
    return std::string(when);
  }
  return std::nullopt;
}

// An id given as a JSON integer or a non-empty string, as text. The spec's sample gives the id
// already prefixed ("1C-12345"); the prefix is the host's to add, so it is dropped here.
inline std::optional<std::string> transaction_id(const Json& value) {
  std::string id;
  if (value.is_number_integer() || value.is_number_unsigned()) {
    id = sdk::dump_json(value);
  } else if (value.is_string()) {
    id = value.get<std::string>();
  } else {
    return std::nullopt;
  }
  if (id.starts_with("1C-") || id.starts_with("1С-")) id.erase(0, id.find('-') + 1);
  if (id.empty() || id.size() > 128) return std::nullopt;
  for (unsigned char c : id) {
    if (c < 0x21 || c == 0x7f) return std::nullopt;  // no spaces or control characters in ids
  }
  return id;
}

}  // namespace internal

// Maps one transaction of the spec's HTTP service: {id, date, customer_phone, amount, items[]},
// items being {name, price[, quantity]}. Every transaction the service lists is a sale.
inline Mapped map_transaction(const Json& tx, const std::string& currency) {
  using namespace internal;
  if (!tx.is_object()) return Unreadable{"", "A 1С transaction is not a JSON object"};
  const auto id = transaction_id(member(tx, "id"));
  if (!id) return Unreadable{"", "A 1С transaction has no readable id"};
  Sale sale;
  sdk::Record& r = sale.record;
  r.external_id = *id;
  const Json& date = member(tx, "date");
  const auto when = date.is_string() ? occurred_at(date.get<std::string>()) : std::nullopt;
  if (!when) return Unreadable{*id, "date is missing or not a date-time: " + sdk::dump_json(date)};
  r.occurred_at = *when;
  const auto amount = decimal_text(member(tx, "amount"));
  if (!amount) return Unreadable{*id, "amount is missing or not a number"};
  r.amount = *amount;
  const Json& phone = member(tx, "customer_phone");
  if (phone.is_string()) {
    r.customer_phone = phone.get<std::string>();
  } else if (phone.is_number_unsigned() || phone.is_number_integer()) {
    r.customer_phone = "+" + sdk::dump_json(phone);  // a number cannot keep the "+" of +7…
  } else if (!phone.is_null()) {
    return Unreadable{*id, "customer_phone is neither text nor a number"};
  }
  const Json& items = member(tx, "items");
  if (!items.is_null() && !items.is_array()) return Unreadable{*id, "items is not a list"};
  for (size_t i = 0; items.is_array() && i < items.size(); ++i) {
    const Json& line = items[i];
    sdk::LineItem item;
    item.name = text_member(line, "name").value_or("");
    const auto price = decimal_text(member(line, "price"));
    if (!price) {
      return Unreadable{*id, "items[" + std::to_string(i) + "].price is not an amount"};
    }
    item.amount = *price;
    item.quantity = decimal_text(member(line, "quantity")).value_or("");
    if (r.description.empty()) r.description = item.name;
    r.items.push_back(std::move(item));
  }
  r.currency = currency;
  r.raw_json = sdk::dump_json(tx);
  return sale;
}

// The buyer of a sales document: its Контрагент_Key, or nullopt when the document names none
// (absent or the empty reference).
inline std::optional<std::string> buyer_key(const Json& document) {
  const auto key = sdk::text_member(document, "Контрагент_Key");
  if (!key || !internal::is_ref(*key)) return std::nullopt;
  return key;
}

// Maps one OData sales document. A sale is a document that is posted (Posted true) and not
// marked for deletion; its amount is СуммаДокумента, its time Date (local), its lines those of
// the Товары and Услуги tabular parts. phone is the buyer's, looked up by the caller ("" when
// unknown).
inline Mapped map_document(const Json& document, const std::string& phone,
                           const std::string& currency) {
  using namespace internal;
  if (!document.is_object()) return Unreadable{"", "A 1С document is not a JSON object"};
  const auto ref = text_member(document, "Ref_Key");
  if (!ref || !is_ref(*ref)) return Unreadable{"", "A 1С document has no Ref_Key"};
  const Json& deleted = member(document, "DeletionMark");
  const Json& posted = member(document, "Posted");
  if (!deleted.is_boolean() || !posted.is_boolean()) {
    return Unreadable{*ref, "Posted or DeletionMark is missing or not a boolean"};
  }
  if (deleted.get<bool>()) return NotSale{*ref, "Not a sale: the document is marked for deletion"};
  if (!posted.get<bool>()) return NotSale{*ref, "Not a sale: the document is not posted"};

  Sale sale;
  sdk::Record& r = sale.record;
  r.external_id = *ref;
  const Json& date = member(document, "Date");
  const auto when = date.is_string() ? occurred_at(date.get<std::string>()) : std::nullopt;
  if (!when) return Unreadable{*ref, "Date is empty or not a date-time: " + sdk::dump_json(date)};
  r.occurred_at = *when;
  const auto amount = decimal_text(member(document, "СуммаДокумента"));
  if (!amount) return Unreadable{*ref, "СуммаДокумента is missing or not a number"};
  r.amount = *amount;
  for (const char* part : {"Товары", "Услуги"}) {
    const Json& lines = member(document, part);
    if (!lines.is_array()) continue;
    for (const Json& line : lines) {
      sdk::LineItem item;
      item.name = text_member(line, "Содержание").value_or("");
      const auto sum = decimal_text(member(line, "Сумма"));
      if (!sum) return Unreadable{*ref, std::string(part) + ": a line has no Сумма"};
      item.amount = *sum;
      item.quantity = decimal_text(member(line, "Количество")).value_or("");
      r.items.push_back(std::move(item));
    }
  }
  const auto number = text_member(document, "Number");
  r.description = "Реализация " + number.value_or(*ref);
  r.customer_phone = phone;
  r.currency = currency;
  r.raw_json = sdk::dump_json(document);
  return sale;
}

// The phone of a Catalog_Контрагенты entity: the first row of its КонтактнаяИнформация tabular
// part whose Тип is "Телефон" (Представление as typed, else НомерТелефона); nullopt when it has
// none.
inline std::optional<std::string> counterparty_phone(const Json& counterparty) {
  const Json& rows = sdk::member(counterparty, "КонтактнаяИнформация");
  if (!rows.is_array()) return std::nullopt;
  for (const Json& row : rows) {
    if (sdk::member(row, "Тип") != "Телефон") continue;
    if (auto shown = sdk::text_member(row, "Представление")) return shown;
    if (auto number = sdk::text_member(row, "НомерТелефона")) return number;
  }
  return std::nullopt;
}

}  // namespace crmsync::onec

#endif  // CRMSYNC_PLUGINS_ONEC_ONEC_MAPPING_H
