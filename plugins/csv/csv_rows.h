// Maps CSV records to sale records for the CSV connector: the header's columns (spec 8.1.6:
// date, customer_phone, amount, optional description, optional external_id or id), then each
// data row to an sdk::Record or to a per-row failure "Row N: ...".
//
// Values go to the host as written (trimmed of spaces and tabs): the host parses the date in the
// business's zone, the amount and the phone, and derives the CSV hash id when a row has no id.
#ifndef CRMSYNC_PLUGINS_CSV_CSV_ROWS_H
#define CRMSYNC_PLUGINS_CSV_CSV_ROWS_H

#include "csv_reader.h"

#include <utf8.h>
#include <crmsync/connector.hpp>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crmsync::csv {

// The columns every file must have, in the order the error message lists them.
inline constexpr std::string_view kRequiredColumns[] = {"date", "customer_phone", "amount"};

// What spreadsheets call saving as UTF-8, for messages about other encodings.
inline constexpr std::string_view kUtf8Hint = "save the file as \"CSV UTF-8\"";

// s without leading and trailing spaces and tabs.
inline std::string_view trim(std::string_view s) noexcept {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

// True when a and b are equal ignoring ASCII case.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

// Appends s to out as a JSON string literal. s must be valid UTF-8. Written by hand because
// nlohmann_json can only escape through a DOM value: measured 0.65 µs per row against 0.1 µs
// here, more than parsing the row costs.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

// Positions of the columns the connector reads, found in the header record.
struct Columns {
  static constexpr size_t kAbsent = SIZE_MAX;
  size_t date = kAbsent;
  size_t customer_phone = kAbsent;
  size_t amount = kAbsent;
  size_t description = kAbsent;
  size_t external_id = kAbsent;    // the `external_id` column, else the `id` column
  std::vector<std::string> names;  // trimmed header names by position, trailing empty ones dropped
};

// Finds the columns in a header record. Throws sdk::Error(CRMSYNC_E_INVALID_INPUT) naming every
// missing required column ("Missing required column(s): amount"), a repeated known column, or a
// header that is not UTF-8.
inline Columns map_columns(const std::vector<std::string_view>& header) {
  Columns columns;
  for (std::string_view raw : header) {
    if (!utf8::is_valid(raw.begin(), raw.end())) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                       "The header is not UTF-8 text (" + std::string(kUtf8Hint) + ")");
    }
    columns.names.emplace_back(trim(raw));
  }
  while (!columns.names.empty() && columns.names.back().empty()) columns.names.pop_back();
  size_t id = Columns::kAbsent;
  const std::pair<std::string_view, size_t*> known[] = {{"date", &columns.date},
                                                        {"customer_phone", &columns.customer_phone},
                                                        {"amount", &columns.amount},
                                                        {"description", &columns.description},
                                                        {"external_id", &columns.external_id},
                                                        {"id", &id}};
  for (size_t i = 0; i < columns.names.size(); ++i) {
    for (const auto& [name, slot] : known) {
      if (!iequals(columns.names[i], name)) continue;
      if (*slot != Columns::kAbsent) {
        throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                         "Column " + std::string(name) + " appears more than once in the header");
      }
      *slot = i;
    }
  }
  if (columns.external_id == Columns::kAbsent) columns.external_id = id;
  std::string missing;
  const size_t* required[] = {&columns.date, &columns.customer_phone, &columns.amount};
  for (size_t i = 0; i < std::size(required); ++i) {
    if (*required[i] != Columns::kAbsent) continue;
    if (!missing.empty()) missing += ", ";
    missing += kRequiredColumns[i];
  }
  if (!missing.empty()) {
    throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "Missing required column(s): " + missing);
  }
  return columns;
}

// Maps data records to sale records, reusing its storage from row to row (no allocation per
// row once the strings have grown to the longest row).
class RowMapper {
 public:
  // What became of a record.
  enum class Outcome {
    kRecord,   // a sale: see record()
    kFailure,  // a row that cannot be a sale: see reason() and raw_json()
    kBlank     // a row without any value (Excel writes them as ";;;"): nothing to report
  };

  explicit RowMapper(Columns columns) : columns_(std::move(columns)) {}

  // Maps one data record.
  Outcome map(const Record& row) {
    if (!row.error.empty()) {
      raw_.clear();
      raw_ += "{\"text\":";
      append_json_string(raw_, utf8::replace_invalid(std::string(row.text)));
      raw_ += '}';
      return failure(row, row.error);
    }
    bool blank = true;
    for (std::string_view field : row.fields) blank = blank && trim(field).empty();
    if (blank) return Outcome::kBlank;

    const size_t width = columns_.names.size();
    size_t used = row.fields.size();
    while (used > width && trim(row.fields[used - 1]).empty()) --used;
    bool utf8_ok = true;
    for (std::string_view field : row.fields) {
      utf8_ok = utf8_ok && utf8::is_valid(field.begin(), field.end());
    }
    build_raw_json(row, utf8_ok);
    if (!utf8_ok) return failure(row, "text is not UTF-8 (" + std::string(kUtf8Hint) + ")");
    if (used != width) {
      return failure(row, "expected " + std::to_string(width) + " fields, found " +
                              std::to_string(row.fields.size()));
    }

    std::string_view date = value(row, columns_.date);
    std::string_view phone = value(row, columns_.customer_phone);
    std::string_view amount = value(row, columns_.amount);
    if (date.empty() || phone.empty() || amount.empty()) {
      std::string missing;
      const std::pair<std::string_view, std::string_view> required[] = {
          {kRequiredColumns[0], date}, {kRequiredColumns[1], phone}, {kRequiredColumns[2], amount}};
      for (const auto& [name, text] : required) {
        if (!text.empty()) continue;
        missing += missing.empty() ? "Missing " : ", ";
        missing += name;
      }
      return failure(row, missing);
    }
    record_.external_id.assign(value(row, columns_.external_id));
    record_.occurred_at.assign(date);
    record_.amount.assign(amount);
    record_.customer_phone.assign(phone);
    record_.description.assign(value(row, columns_.description));
    record_.raw_json.swap(raw_);
    set_locator(record_.locator, row.row);
    return Outcome::kRecord;
  }

  // The sale of the last kRecord.
  const sdk::Record& record() const noexcept { return record_; }
  // "Row N: why" of the last kFailure.
  const std::string& reason() const noexcept { return reason_; }
  // The row as a JSON object of the last kFailure.
  const std::string& raw_json() const noexcept { return raw_; }

 private:
  // The trimmed value of column i in row; empty when the column is absent.
  static std::string_view value(const Record& row, size_t i) noexcept {
    return i < row.fields.size() ? trim(row.fields[i]) : std::string_view{};
  }

  // "Row N" into out.
  static void set_locator(std::string& out, uint64_t row) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, row);
    (void)ec;  // 24 digits hold any uint64_t
    out.assign("Row ");
    out.append(digits, end);
  }

  // raw_ = {"name": "value", ...} of the named columns, values as read; invalid UTF-8 is replaced
  // so that the report can still show the row.
  void build_raw_json(const Record& row, bool utf8_ok) {
    raw_.clear();
    raw_ += '{';
    bool first = true;
    for (size_t i = 0; i < columns_.names.size() && i < row.fields.size(); ++i) {
      if (columns_.names[i].empty()) continue;
      if (!first) raw_ += ',';
      first = false;
      append_json_string(raw_, columns_.names[i]);
      raw_ += ':';
      if (utf8_ok) {
        append_json_string(raw_, row.fields[i]);
      } else {
        append_json_string(raw_, utf8::replace_invalid(std::string(row.fields[i])));
      }
    }
    raw_ += '}';
  }

  Outcome failure(const Record& row, std::string_view why) {
    set_locator(reason_, row.row);
    reason_ += ": ";
    reason_ += why;
    return Outcome::kFailure;
  }

  Columns columns_;
  sdk::Record record_;
  std::string reason_;
  std::string raw_;
};

}  // namespace crmsync::csv

#endif  // CRMSYNC_PLUGINS_CSV_CSV_ROWS_H
