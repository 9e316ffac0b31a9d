// YCLIENTS record → sale mapping (issue: what is a sale, amount, time, phone), shared by fetch,
// fetch_object, parse_webhook and map_response, and the small value readers it needs.
//
// YCLIENTS sends the same field in several JSON types (DESIGN §9): flags as bool or 0/1, ids as
// numbers or strings, money as numbers in records and strings in transactions, phones with or
// without "+" or as a JSON number. The readers below accept exactly those spellings and nothing
// else, so a field that changes type again is reported, not guessed.
#ifndef CRMSYNC_PLUGINS_YCLIENTS_YCLIENTS_MAPPING_H
#define CRMSYNC_PLUGINS_YCLIENTS_YCLIENTS_MAPPING_H

#include <crmsync/connector.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace crmsync::yclients {

// The JSON document type of the connector.
using Json = nlohmann::json;

// A record that is a sale.
struct Sale {
  sdk::Record record;
};

// A record that is not a sale (not attended, deleted, nothing paid), with the reason.
struct NotSale {
  std::string external_id;
  std::string reason;
};

// A record that cannot be read, with the reason.
struct Unreadable {
  std::string external_id;  // empty when the record has no readable id
  std::string reason;
};

// What one record maps to.
using Mapped = std::variant<Sale, NotSale, Unreadable>;

namespace internal {

// A JSON id (integer or digit string) as text; nullopt for anything else.
inline std::optional<std::string> id_text(const Json& value) {
  if (value.is_number_unsigned() || value.is_number_integer()) return value.dump();
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) return text;
  }
  return std::nullopt;
}

// A flag given as bool, 0/1 or "0"/"1"; nullopt for anything else.
inline std::optional<bool> flag(const Json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number_integer() || value.is_number_unsigned()) {
    const auto n = value.get<int64_t>();
    if (n == 0 || n == 1) return n == 1;
  }
  if (value.is_string() && (value == "0" || value == "1")) return value == "1";
  return std::nullopt;
}

// A small integer given as a number or a digit string ("attendance": -1/0/1/2).
inline std::optional<int64_t> integer(const Json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) return value.get<int64_t>();
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    int64_t out = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    if (ec == std::errc() && ptr == end && !text.empty()) return out;
  }
  return std::nullopt;
}

// Decimal text ("1500", "-20.5", "1000.00") to minor units; nullopt when it is not a plain
// decimal or has fractions of a kopeck.
inline std::optional<int64_t> decimal_minor(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  const size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction =
      dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && fraction.empty())) return std::nullopt;
  while (fraction.size() > 2 && fraction.back() == '0') fraction.remove_suffix(1);
  if (fraction.size() > 2) return std::nullopt;
  auto digits_only = [](std::string_view s) {
    return s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!digits_only(whole) || !digits_only(fraction) || whole.size() > 15) return std::nullopt;
  int64_t minor = 0;
  for (char c : whole) minor = minor * 10 + (c - '0');
  for (size_t i = 0; i < 2; ++i) minor = minor * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  return negative ? -minor : minor;
}

// A money value (JSON number or decimal string) in minor units; nullopt when unreadable.
// A JSON fraction arrives as a double: its shortest round-trip text in fixed notation is the
// decimal the provider wrote (for any amount below 10^13), so no float arithmetic touches money.
inline std::optional<int64_t> money_minor(const Json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) {
    const auto units = value.get<int64_t>();
    if (units > INT64_MAX / 100 || units < -INT64_MAX / 100) return std::nullopt;
    return units * 100;
  }
  if (value.is_number_float()) {
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value.get<double>(),
                                   std::chars_format::fixed);
    if (ec != std::errc()) return std::nullopt;
    return decimal_minor(std::string_view(buffer, static_cast<size_t>(end - buffer)));
  }
  if (value.is_string()) return decimal_minor(value.get_ref<const std::string&>());
  return std::nullopt;
}

// The member of an object, or null when absent (or when j is not an object).
inline const Json& member(const Json& j, const char* name) {
  static const Json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(name);
  return it == j.end() ? null_value : *it;
}

// "+0900" / "+09:00" / "Z" / "" after a local time → seconds east of UTC; nullopt if malformed.
inline std::optional<int64_t> offset_seconds(std::string_view zone) {
  if (zone == "Z" || zone == "z") return 0;
  if (zone.size() != 5 && zone.size() != 6) return std::nullopt;
  if (zone[0] != '+' && zone[0] != '-') return std::nullopt;
  std::string digits;
  for (char c : zone.substr(1)) {
    if (c != ':') digits += c;
  }
  if (digits.size() != 4 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int64_t seconds = ((digits[0] - '0') * 10 + (digits[1] - '0')) * 3600 +
                          ((digits[2] - '0') * 10 + (digits[3] - '0')) * 60;
  return zone[0] == '-' ? -seconds : seconds;
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

// "YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM|±HHMM)" → Unix seconds; nullopt otherwise. Used only to
// order last_change_date values for the cursor; sale times go to the host as given.
inline std::optional<int64_t> unix_seconds(std::string_view text) {
  if (text.size() < 20) return std::nullopt;
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
      *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *s > 60) {
    return std::nullopt;
  }
  size_t at = 19;
  if (text[at] == '.') {
    ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
  }
  const auto offset = offset_seconds(text.substr(at));
  if (!offset) return std::nullopt;
  return days_from_civil(*y, *mo, *d) * 86400 + *h * 3600 + *mi * 60 + *s - *offset;
}

// Unix seconds → "YYYY-MM-DDTHH:MM:SSZ" (civil_from_days, the inverse of days_from_civil).
inline std::string utc_text(int64_t seconds) {
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
  std::snprintf(buffer, sizeof buffer, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d),
                static_cast<long long>(rest / 3600), static_cast<long long>(rest / 60 % 60),
                static_cast<long long>(rest % 60));
  return buffer;
}

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
    const auto cost = money_minor(member(line, "cost"));
    if (!cost) {
      why = std::string(field) + "[" + std::to_string(i) + "].cost is not an amount";
      return false;
    }
    total += *cost;
    sdk::LineItem item;
    const Json& title = member(line, "title");
    item.name = title.is_string() ? title.get<std::string>() : std::string();
    const Json& quantity = member(line, "amount");
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
  if (!record.is_object()) return Unreadable{"", "A record is not a JSON object"};
  const auto id = id_text(member(record, "id"));
  if (!id) return Unreadable{"", "A record has no readable id"};
  const Json& deleted_field = member(record, "deleted");
  const auto deleted = deleted_field.is_null() ? std::optional<bool>(false) : flag(deleted_field);
  if (!deleted) return Unreadable{*id, "deleted is neither a bool nor 0/1"};
  if (*deleted) return NotSale{*id, "Not a sale: the record is deleted"};
  const auto attendance = integer(member(record, "attendance"));
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
  r.raw_json = record.dump();
  return sale;
}

}  // namespace crmsync::yclients

#endif  // CRMSYNC_PLUGINS_YCLIENTS_YCLIENTS_MAPPING_H
