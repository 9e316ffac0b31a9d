// amoCRM lead → sale mapping (what is a sale, amount, time, phone), shared by fetch, fetch_object
// and map_response, and the readers of amoCRM's webhook bodies (application/x-www-form-urlencoded
// with PHP-style keys such as leads[status][0][id]).
//
// amoCRM API v4 gives ids, prices and times as JSON integers (times in Unix seconds); custom field
// values arrive as text or numbers; the phone lives on the lead's contact, in the multitext custom
// field with field_code PHONE. The readers accept exactly those spellings and report anything else.
#ifndef CRMSYNC_PLUGINS_AMOCRM_AMOCRM_MAPPING_H
#define CRMSYNC_PLUGINS_AMOCRM_AMOCRM_MAPPING_H

#include <crmsync/connector.hpp>
#include <crmsync/connector_http.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_money.hpp>
#include <crmsync/connector_time.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace crmsync::amocrm {

// The JSON document type of the connector.
using Json = sdk::Json;
// Webhook bodies are decoded with the SDK's form decoding.
using sdk::form_decode;

// The settings that decide what a sale is.
struct SaleRules {
  std::vector<int64_t> won_status_ids = {142};  // 142: the system status "Успешно реализовано"
  std::vector<int64_t> pipeline_ids;  // empty: every pipeline
  std::string phone_field_code = "PHONE";
  std::optional<int64_t> amount_field_id;  // unset: the lead's price
  std::string currency;                    // empty: the integration's currency
};

// A lead that is a sale.
struct Sale {
  sdk::Record record;
};

// A lead that is not a sale (open, lost, another pipeline, no amount), with the reason.
struct NotSale {
  std::string external_id;
  std::string reason;
  int64_t status_id = 0;  // the lead's status, for noticing leads that leave a won status
};

// A lead that cannot be read, with the reason.
struct Unreadable {
  std::string external_id;  // empty when the lead has no readable id
  std::string reason;
};

// What one lead maps to.
using Mapped = std::variant<Sale, NotSale, Unreadable>;

namespace internal {

using sdk::integer;
using sdk::member;

// True when text is a non-empty run of ASCII digits (an id).
inline bool is_digits(std::string_view text) {
  return !text.empty() && text.size() <= 18 &&
         text.find_first_not_of("0123456789") == std::string_view::npos;
}

// Digit text → integer; the caller checked is_digits.
inline int64_t digits_value(std::string_view text) {
  int64_t out = 0;
  for (char c : text) out = out * 10 + (c - '0');
  return out;
}

// Roubles as a custom field gives them (a JSON integer, or text "1500", "1500.50", "1 500,50")
// → kopecks; nullopt when it is not a plain non-negative amount with at most two decimals.
inline std::optional<int64_t> roubles_minor(const Json& value) {
  if (const auto n = integer(value)) {
    if (*n < 0 || *n > INT64_MAX / 100) return std::nullopt;
    return *n * 100;
  }
  if (!value.is_string()) return std::nullopt;
  std::string text;
  for (char c : value.get_ref<const std::string&>()) {
    if (c != ' ') text += c == ',' ? '.' : c;
  }
  if (text.starts_with('-')) return std::nullopt;
  return sdk::decimal_minor(text);
}

// The first value of the custom field matching pred in custom_fields_values (null or a list of
// {field_id, field_code, values: [{value}]}); null when the field is absent or empty.
template <class Pred>
const Json& custom_value(const Json& fields, Pred pred) {
  static const Json null_value;
  if (!fields.is_array()) return null_value;
  for (const Json& field : fields) {
    if (!pred(field)) continue;
    const Json& values = member(field, "values");
    if (values.is_array() && !values.empty()) return member(values[0], "value");
  }
  return null_value;
}

// Why a lead in this status is not a sale.
inline std::string status_reason(int64_t status_id) {
  if (status_id == 143) return "Not a sale: the lead is lost (status 143)";
  return "Not a sale: the lead is not won (status " + std::to_string(status_id) + ")";
}

}  // namespace internal

// The id of the lead's main contact (is_main, else the first one) from _embedded.contacts.
inline std::optional<int64_t> main_contact_id(const Json& lead) {
  using internal::member;
  const Json& contacts = member(member(lead, "_embedded"), "contacts");
  if (!contacts.is_array() || contacts.empty()) return std::nullopt;
  for (const Json& contact : contacts) {
    if (member(contact, "is_main") == true) return internal::integer(member(contact, "id"));
  }
  return internal::integer(member(contacts[0], "id"));
}

// The first phone of a contact: the field with this field_code ("PHONE"); "" when it has none.
inline std::string contact_phone(const Json& contact, const std::string& field_code) {
  const Json& value = internal::custom_value(
      internal::member(contact, "custom_fields_values"),
      [&](const Json& field) { return internal::member(field, "field_code") == field_code; });
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer() || value.is_number_unsigned()) return sdk::dump_json(value);
  return {};
}

// True when the lead is in a won status (whatever its pipeline); false also for unreadable leads.
inline bool is_won(const Json& lead, const SaleRules& rules) {
  const auto status = internal::integer(internal::member(lead, "status_id"));
  return status && std::find(rules.won_status_ids.begin(), rules.won_status_ids.end(), *status) !=
                       rules.won_status_ids.end();
}

// Maps one lead of GET /api/v4/leads. A sale is a lead in a won status of a synced pipeline; its
// amount is the lead's price (integer roubles) or the configured custom field; its time is
// closed_at; its phone is the main contact's, looked up in contacts (id → contact JSON, read in
// batches by the caller; absent contacts give no phone).
inline Mapped map_lead(const Json& lead, const SaleRules& rules,
                       const std::map<int64_t, Json>& contacts) {
  using namespace internal;
  if (!lead.is_object()) return Unreadable{"", "A lead is not a JSON object"};
  const auto id = integer(member(lead, "id"));
  if (!id) return Unreadable{"", "A lead has no integer id"};
  const std::string external_id = std::to_string(*id);
  const auto status = integer(member(lead, "status_id"));
  if (!status) return Unreadable{external_id, "status_id is missing or not an integer"};
  const auto pipeline = integer(member(lead, "pipeline_id"));
  if (!pipeline) return Unreadable{external_id, "pipeline_id is missing or not an integer"};
  if (!rules.pipeline_ids.empty() && std::find(rules.pipeline_ids.begin(), rules.pipeline_ids.end(),
                                               *pipeline) == rules.pipeline_ids.end()) {
    return NotSale{external_id,
                   "Not a sale: pipeline " + std::to_string(*pipeline) + " is not synced", *status};
  }
  if (!is_won(lead, rules)) return NotSale{external_id, status_reason(*status), *status};

  Sale sale;
  sdk::Record& r = sale.record;
  r.external_id = external_id;
  if (rules.amount_field_id) {
    const Json& value = custom_value(member(lead, "custom_fields_values"), [&](const Json& f) {
      return integer(member(f, "field_id")) == rules.amount_field_id;
    });
    const std::string field = "custom field " + std::to_string(*rules.amount_field_id);
    if (value.is_null()) {
      return NotSale{external_id, "Not a sale: the won lead has no amount in " + field, *status};
    }
    const auto minor = roubles_minor(value);
    if (!minor)
      return Unreadable{external_id, field + " is not an amount: " + sdk::dump_json(value)};
    r.amount_minor = *minor;
  } else {
    const Json& price = member(lead, "price");
    if (price.is_null())
      return NotSale{external_id, "Not a sale: the won lead has no price", *status};
    const auto roubles = integer(price);
    if (!roubles || *roubles < 0 || *roubles > INT64_MAX / 100) {
      return Unreadable{external_id,
                        "price is not a whole number of roubles: " + sdk::dump_json(price)};
    }
    r.amount_minor = *roubles * 100;
  }
  if (*r.amount_minor == 0) {
    return NotSale{external_id, "Not a sale: the won lead's amount is 0", *status};
  }
  const auto closed = integer(member(lead, "closed_at"));
  if (!closed || *closed <= 0) return Unreadable{external_id, "The won lead has no closed_at"};
  r.occurred_at = sdk::format_utc(*closed);
  if (const auto contact = main_contact_id(lead)) {
    const auto it = contacts.find(*contact);
    if (it != contacts.end()) r.customer_phone = contact_phone(it->second, rules.phone_field_code);
  }
  const Json& name = member(lead, "name");
  if (name.is_string()) r.description = name.get<std::string>();
  r.currency = rules.currency;
  r.raw_json = sdk::dump_json(lead);
  return sale;
}

// One lead event of a webhook body: leads[<event>][<n>][id].
struct LeadEvent {
  std::string event;  // add, update, status, delete, restore, responsible, note
  std::string id;     // as sent; the caller checks it is a number
};

// What a webhook body says, decoded.
struct WebhookBody {
  std::vector<LeadEvent> leads;             // in body order
  std::optional<std::string> subdomain;     // account[subdomain]
  std::vector<std::string> other_entities;  // contacts, companies, ...: not sales
};

// Splits a key like "leads[status][0][id]" into {"leads", "status", "0", "id"}; nullopt when the
// brackets do not pair up.
inline std::optional<std::vector<std::string>> key_path(const std::string& key) {
  std::vector<std::string> parts;
  const size_t open = key.find('[');
  parts.push_back(key.substr(0, open));
  size_t at = open;
  while (at != std::string::npos && at < key.size()) {
    if (key[at] != '[') return std::nullopt;
    const size_t close = key.find(']', at);
    if (close == std::string::npos) return std::nullopt;
    parts.push_back(key.substr(at + 1, close - at - 1));
    at = close + 1;
  }
  if (parts.front().empty()) return std::nullopt;
  return parts;
}

// Reads an amoCRM webhook body; an error message when it is not form-encoded key=value pairs.
inline std::variant<WebhookBody, std::string> read_webhook(std::string_view body) {
  WebhookBody out;
  std::map<std::pair<std::string, std::string>, size_t> seen;  // (event, index) → leads position
  size_t line = 0;
  while (!body.empty()) {
    ++line;
    const size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const auto key = form_decode(pair.substr(0, eq));
    const auto value =
        form_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    const std::string where = "pair " + std::to_string(line);
    if (!key || !value) return where + " has a malformed percent-escape";
    if (eq == std::string_view::npos) return where + " has no '=': " + key->substr(0, 80);
    const auto path = key_path(*key);
    if (!path) return where + " has a malformed key: " + key->substr(0, 80);
    const auto& parts = *path;
    if (parts[0] == "account") {
      if (parts.size() == 2 && parts[1] == "subdomain") out.subdomain = *value;
      continue;
    }
    if (parts.size() < 2) continue;  // not an entity[...] field: nothing amoCRM sends
    if (parts[0] != "leads") {
      if (std::find(out.other_entities.begin(), out.other_entities.end(), parts[0]) ==
          out.other_entities.end()) {
        out.other_entities.push_back(parts[0]);
      }
      continue;
    }
    if (parts.size() < 4) return where + " is not leads[<event>][<n>][<field>]: " + *key;
    const auto slot = seen.try_emplace({parts[1], parts[2]}, out.leads.size());
    if (slot.second) out.leads.push_back({parts[1], ""});
    if (parts.size() == 4 && parts[3] == "id") out.leads[slot.first->second].id = *value;
  }
  if (out.leads.empty() && out.other_entities.empty() && !out.subdomain) {
    return std::string("no leads[...], account[...] or other amoCRM fields");
  }
  return out;
}

}  // namespace crmsync::amocrm

#endif  // CRMSYNC_PLUGINS_AMOCRM_AMOCRM_MAPPING_H
