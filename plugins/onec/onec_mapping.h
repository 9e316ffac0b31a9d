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
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace crmsync::onec {

// The JSON document type of the connector.
using Json = nlohmann::json;

// An object that is a sale.
struct Sale {
  sdk::Record record;
};

// An object that is not a sale (unposted, marked for deletion), with the reason.
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

// The all-zero GUID: 1С's empty reference.
inline constexpr std::string_view kEmptyRef = "00000000-0000-0000-0000-000000000000";

namespace internal {

// The member of an object, or null when absent (or when j is not an object).
inline const Json& member(const Json& j, const char* name) {
  static const Json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(name);
  return it == j.end() ? null_value : *it;
}

// A non-empty string member, or nullopt.
inline std::optional<std::string> text(const Json& j, const char* name) {
  const Json& value = member(j, name);
  if (!value.is_string() || value.get_ref<const std::string&>().empty()) return std::nullopt;
  return value.get<std::string>();
}

// A money or quantity value (JSON number or decimal string) as decimal text for the host to
// read; nullopt for anything else. A JSON fraction arrives as a double: its shortest round-trip
// text in fixed notation is the decimal 1С wrote, so no float arithmetic touches money.
inline std::optional<std::string> decimal_text(const Json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
  if (value.is_number_float()) {
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value.get<double>(),
                                   std::chars_format::fixed);
    if (ec != std::errc()) return std::nullopt;
    return std::string(buffer, end);
  }
  if (value.is_string() && !value.get_ref<const std::string&>().empty()) {
    return value.get<std::string>();
  }
  return std::nullopt;
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

// Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil; written by hand because
// the connector links only the SDK and header-only helpers, not the date library).
inline int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// "YYYY-MM-DDTHH:MM:SS" (or with a space) → seconds since the local epoch; nullopt otherwise.
// Used for the cursor's overlap arithmetic on 1С's zoneless times.
inline std::optional<int64_t> local_seconds(std::string_view text) {
  if (text.size() != 19) return std::nullopt;
  auto number = [&](size_t at, size_t n) -> std::optional<int64_t> {
    int64_t out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      out = out * 10 + (text[i] - '0');
    }
    return out;
  };
  const auto y = number(0, 4), mo = number(5, 2), d = number(8, 2), h = number(11, 2),
             mi = number(14, 2), s = number(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != ' ') || text[13] != ':' || text[16] != ':' || *mo < 1 ||
      *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *s > 59) {
    return std::nullopt;
  }
  return days_from_civil(*y, *mo, *d) * 86400 + *h * 3600 + *mi * 60 + *s;
}

// Seconds since the local epoch → "YYYY-MM-DDTHH:MM:SS" (civil_from_days, the inverse of
// days_from_civil), the form 1С's OData datetime'…' literals take.
inline std::string local_text(int64_t seconds) {
  int64_t days = seconds / 86400;
  int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp + (mp < 10 ? 3 : -9);
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld",
                static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d),
                static_cast<long long>(rest / 3600), static_cast<long long>(rest / 60 % 60),
                static_cast<long long>(rest % 60));
  return buffer;
}

// A 1С date-time as the host reads it: zoneless "YYYY-MM-DDTHH:MM:SS[.fff]" becomes local
// "YYYY-MM-DD HH:MM:SS" (the integration's zone); a time with an offset is passed on as given.
// nullopt for 1С's empty date 0001-01-01T00:00:00 and for text that is not a date-time.
inline std::optional<std::string> occurred_at(std::string_view when) {
  if (when.starts_with("0001-01-01")) return std::nullopt;
  if (when.size() < 19) return std::nullopt;
  if (!local_seconds(when.substr(0, 19))) return std::nullopt;
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
    id = value.dump();
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
  if (!when) return Unreadable{*id, "date is missing or not a date-time: " + date.dump()};
  r.occurred_at = *when;
  const auto amount = decimal_text(member(tx, "amount"));
  if (!amount) return Unreadable{*id, "amount is missing or not a number"};
  r.amount = *amount;
  const Json& phone = member(tx, "customer_phone");
  if (phone.is_string()) {
    r.customer_phone = phone.get<std::string>();
  } else if (phone.is_number_unsigned() || phone.is_number_integer()) {
    r.customer_phone = "+" + phone.dump();  // a number cannot keep the "+" of +7…
  } else if (!phone.is_null()) {
    return Unreadable{*id, "customer_phone is neither text nor a number"};
  }
  const Json& items = member(tx, "items");
  if (!items.is_null() && !items.is_array()) return Unreadable{*id, "items is not a list"};
  for (size_t i = 0; items.is_array() && i < items.size(); ++i) {
    const Json& line = items[i];
    sdk::LineItem item;
    item.name = text(line, "name").value_or("");
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
  r.raw_json = tx.dump();
  return sale;
}

// The buyer of a sales document: its Контрагент_Key, or nullopt when the document names none
// (absent or the empty reference).
inline std::optional<std::string> buyer_key(const Json& document) {
  const auto key = internal::text(document, "Контрагент_Key");
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
  const auto ref = text(document, "Ref_Key");
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
  if (!when) return Unreadable{*ref, "Date is empty or not a date-time: " + date.dump()};
  r.occurred_at = *when;
  const auto amount = decimal_text(member(document, "СуммаДокумента"));
  if (!amount) return Unreadable{*ref, "СуммаДокумента is missing or not a number"};
  r.amount = *amount;
  for (const char* part : {"Товары", "Услуги"}) {
    const Json& lines = member(document, part);
    if (!lines.is_array()) continue;
    for (const Json& line : lines) {
      sdk::LineItem item;
      item.name = text(line, "Содержание").value_or("");
      const auto sum = decimal_text(member(line, "Сумма"));
      if (!sum) return Unreadable{*ref, std::string(part) + ": a line has no Сумма"};
      item.amount = *sum;
      item.quantity = decimal_text(member(line, "Количество")).value_or("");
      r.items.push_back(std::move(item));
    }
  }
  const auto number = text(document, "Number");
  r.description = "Реализация " + number.value_or(*ref);
  r.customer_phone = phone;
  r.currency = currency;
  r.raw_json = document.dump();
  return sale;
}

// The phone of a Catalog_Контрагенты entity: the first row of its КонтактнаяИнформация tabular
// part whose Тип is "Телефон" (Представление as typed, else НомерТелефона); nullopt when it has
// none.
inline std::optional<std::string> counterparty_phone(const Json& counterparty) {
  const Json& rows = internal::member(counterparty, "КонтактнаяИнформация");
  if (!rows.is_array()) return std::nullopt;
  for (const Json& row : rows) {
    if (internal::member(row, "Тип") != "Телефон") continue;
    if (auto shown = internal::text(row, "Представление")) return shown;
    if (auto number = internal::text(row, "НомерТелефона")) return number;
  }
  return std::nullopt;
}

}  // namespace crmsync::onec

#endif  // CRMSYNC_PLUGINS_ONEC_ONEC_MAPPING_H
