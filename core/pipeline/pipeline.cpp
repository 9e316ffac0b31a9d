// The ingest pipeline: normalization of connector records and batch commits (see pipeline.h).
#include "pipeline/pipeline.h"

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/json.h"

#include "normalize/amount.h"
#include "normalize/dedup_key.h"
#include "normalize/phone.h"
#include "normalize/utf8.h"

namespace crmsync::pipeline {
namespace {

std::string_view view(crmsync_str s) {
  return s.len == 0 ? std::string_view{} : std::string_view{s.ptr, s.len};
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

store::Timestamp system_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// Appends "; " between the reasons of one record.
void add_reason(std::string& reasons, std::string_view reason) {
  if (!reasons.empty()) reasons.append("; ");
  reasons.append(reason);
}

// A record's amount in minor units, whichever way the connector gave it.
Result<int64_t> record_amount(const crmsync_record_v1& record) {
  if (record.amount_kind == CRMSYNC_AMOUNT_MINOR) {
    if (record.amount_minor <= 0) return fail(CRMSYNC_E_INVALID_INPUT, "Amount must be positive");
    return record.amount_minor;
  }
  return normalize::amount_minor(view(record.amount));
}

// The items of a record as the JSON array stored with the transaction.
std::string items_json(const crmsync_record_v1& record) {
  if (record.item_count == 0) return "[]";
  nlohmann::json items = nlohmann::json::array();
  for (size_t i = 0; i < record.item_count; ++i) {
    const crmsync_line_item_v1& item = *record.items[i];
    nlohmann::json line{{"name", view(item.name)}};
    if (item.quantity.len > 0) line["quantity"] = view(item.quantity);
    if (item.amount_kind == CRMSYNC_AMOUNT_MINOR) {
      line["amount_minor"] = item.amount_minor;
    } else if (auto minor = normalize::amount_minor(view(item.amount), {.allow_zero = true})) {
      line["amount_minor"] = *minor;
    } else {
      line["amount"] = view(item.amount);  // kept as given: items are informative, not money
    }
    items.push_back(std::move(line));
  }
  return dump_json(items);
}

// Checks one string field of a record: well-formed UTF-8 and at most max bytes.
void check_text(std::string& reasons, std::string_view field, crmsync_str value, size_t max) {
  const std::string_view text = view(value);
  if (text.size() > max) {
    add_reason(reasons, std::string(field) + " is " + std::to_string(text.size()) +
                            " bytes long, more than the " + std::to_string(max) + " allowed");
    return;
  }
  if (auto at = normalize::invalid_utf8_at(text)) {
    add_reason(reasons,
               std::string(field) + " is not valid UTF-8 (at byte " + std::to_string(*at) + ")");
  }
}

// Text of a connector fit for a log line: repaired UTF-8, at most max bytes.
std::string loggable(std::string_view text, size_t max) {
  return normalize::utf8_repaired(text, max);
}

}  // namespace

std::string check_text_fields(const crmsync_record_v1& record) {
  std::string reasons;
  check_text(reasons, "external_id", record.external_id, limits::kExternalId);
  check_text(reasons, "occurred_at", record.occurred_at, limits::kOccurredAt);
  check_text(reasons, "amount", record.amount, limits::kAmount);
  check_text(reasons, "currency", record.currency, limits::kCurrency);
  check_text(reasons, "customer_phone", record.customer_phone, limits::kCustomerPhone);
  check_text(reasons, "customer_ref", record.customer_ref, limits::kCustomerRef);
  check_text(reasons, "description", record.description, limits::kDescription);
  check_text(reasons, "locator", record.locator, limits::kLocator);
  check_text(reasons, "raw_json", record.raw_json, limits::kRawJson);
  if (record.item_count > limits::kItems) {
    add_reason(reasons, "items: " + std::to_string(record.item_count) + " lines, more than the " +
                            std::to_string(limits::kItems) + " allowed");
  } else {
    for (size_t i = 0; i < record.item_count; ++i) {
      const crmsync_line_item_v1& item = *record.items[i];
      const std::string field = "items[" + std::to_string(i) + "].";
      check_text(reasons, field + "name", item.name, limits::kItemName);
      check_text(reasons, field + "quantity", item.quantity, limits::kItemQuantity);
      check_text(reasons, field + "amount", item.amount, limits::kAmount);
    }
  }
  return reasons;
}

std::string integration_timezone(const store::Business& business,
                                 const store::Integration& integration) {
  const nlohmann::json settings = parse_json_or_discarded(integration.settings_json);
  if (settings.is_object()) {
    auto it = settings.find("timezone");
    if (it != settings.end() && it->is_string() && !it->get<std::string>().empty()) {
      return it->get<std::string>();
    }
  }
  return business.timezone;
}

Result<Target> make_target(const store::Business& business, const store::Integration& integration) {
  const std::string timezone = integration_timezone(business, integration);
  auto zone = normalize::TimeZone::locate(timezone);
  if (!zone) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                (timezone == business.timezone ? "business " + business.id
                                               : "integration " + integration.id) +
                    ": " + zone.error().message);
  }
  Target target{.business_id = business.id,
                .integration_id = integration.id,
                .id_prefix = upper(integration.crm_type),
                .zone = *zone,
                .region = business.region,
                .currency = business.currency,
                .invalid_phone_is_error = integration.crm_type == "csv"};
  return target;
}

Normalized normalize_record(const Target& target, const crmsync_record_v1& record,
                            store::Timestamp now) {
  Normalized out;
  std::string& reasons = out.error;
  // Text that breaks the limits is not read any further: its reasons are all there is to say.
  reasons = check_text_fields(record);
  if (!reasons.empty()) return out;

  auto when = normalize::time_utc(view(record.occurred_at), target.zone);
  if (!when) {
    add_reason(reasons, record.occurred_at.len == 0 ? "Missing date" : when.error().message);
  } else if (*when < limits::kEarliest) {
    add_reason(reasons, "occurred_at " + normalize::rfc3339_utc(*when) +
                            " is before 2000-01-01T00:00:00Z, the earliest date accepted");
  } else if (*when > now + limits::kAhead) {
    add_reason(reasons, "occurred_at " + normalize::rfc3339_utc(*when) +
                            " is more than a day ahead of the host's clock (" +
                            normalize::rfc3339_utc(now) + ")");
  }

  auto amount = record_amount(record);
  if (!amount) {
    add_reason(reasons, amount.error().message);
  } else if (*amount > limits::kAmountMinor) {
    add_reason(reasons, "amount " + std::to_string(*amount) +
                            " minor units is above the maximum of " +
                            std::to_string(limits::kAmountMinor));
  }

  std::string phone_e164;
  std::string_view raw_phone = view(record.customer_phone);
  if (!raw_phone.empty()) {
    auto phone = normalize::phone(raw_phone, {.default_region = target.region});
    if (phone) {
      phone_e164 = std::move(phone->e164);
    } else if (target.invalid_phone_is_error) {
      add_reason(reasons, "Invalid phone format (expected +7XXXXXXXXXX): " + phone.error().message);
    } else {
      out.warning =
          "Customer phone not usable, sale stored without a customer: " + phone.error().message;
    }
  } else if (target.invalid_phone_is_error) {
    add_reason(reasons, "Missing phone");
  }
  if (!reasons.empty()) {
    out.warning.clear();
    return out;
  }

  store::NormalizedTransaction& tx = out.transaction.emplace();
  tx.occurred_at = *when;
  tx.amount_minor = *amount;
  std::string_view given_id = view(record.external_id);
  if (given_id.empty()) {
    tx.external_id = normalize::csv_dedup_id(*when, phone_e164, *amount, target.business_id);
  } else {
    tx.external_id.reserve(target.id_prefix.size() + 1 + given_id.size());
    tx.external_id.append(target.id_prefix).append("-").append(given_id);
  }
  tx.currency = record.currency.len > 0 ? std::string(view(record.currency)) : target.currency;
  tx.phone_e164 = std::move(phone_e164);
  tx.customer_ref = view(record.customer_ref);
  tx.description = view(record.description);
  tx.items_json = items_json(record);
  tx.is_medical = (record.flags & CRMSYNC_RECORD_MEDICAL) != 0;
  return out;
}

// Receives one fetch's records and turns them into a store batch.
class Ingest::Collector : public plugin_host::RecordSink {
 public:
  Collector(Ingest& ingest, store::Batch& batch) : ingest_(ingest), batch_(batch) {}

  Result<void> on_record(const crmsync_record_v1& record) override {
    ++batch_.increments.fetched;
    Normalized normalized = normalize_record(ingest_.target_, record, batch_.now);
    if (!normalized.transaction) {
      std::string where =
          loggable(record.locator.len > 0 ? view(record.locator) : view(record.external_id),
                   limits::kExternalId);
      return ingest_.record_failure(batch_, std::move(where), std::move(normalized.error),
                                    view(record.raw_json));
    }
    if (!normalized.warning.empty()) warn(record, normalized.warning);
    store::NormalizedTransaction& sale = *normalized.transaction;
    // A sale known only by its loyalty card (iiko) gets the phone the card is linked to.
    if (sale.phone_e164.empty() && !sale.customer_ref.empty() && !sale.is_medical) {
      auto phone = ingest_.store_.card_phone(ingest_.target_.business_id, sale.customer_ref);
      if (!phone) return phone.error();
      if (*phone) sale.phone_e164 = std::move(**phone);
    }
    batch_.transactions.push_back(std::move(sale));
    return {};
  }

  // Objects that are not sales (unpaid visits, lost leads) are the normal bulk of a CRM's data:
  // they are counted in the run, not logged one by one.
  Result<void> on_skip(std::string_view /*external_id*/, std::string_view /*reason*/) override {
    ++batch_.increments.fetched;
    ++batch_.increments.skipped;
    return {};
  }

  Result<void> on_fail(std::string_view external_id, std::string_view reason,
                       std::string_view raw_json) override {
    ++batch_.increments.fetched;
    return ingest_.record_failure(batch_, loggable(external_id, limits::kExternalId),
                                  loggable(reason, limits::kDescription), raw_json);
  }

  Result<void> on_refetch(std::string_view object_id) override {
    refetch_.emplace_back(object_id);
    return {};
  }

  Result<void> on_checkpoint(std::string_view next_cursor, bool more) override {
    cursor_ = std::string(next_cursor);
    more_ = more;
    checkpointed_ = true;
    return {};
  }

  bool checkpointed() const noexcept { return checkpointed_; }
  bool more() const noexcept { return more_; }
  std::string& cursor() noexcept { return cursor_; }
  std::vector<std::string>& refetch() noexcept { return refetch_; }

 private:
  void warn(const crmsync_record_v1& record, const std::string& message) {
    store::LogEntry& entry = batch_.logs.emplace_back();
    entry.business_id = ingest_.target_.business_id;
    entry.integration_id = ingest_.target_.integration_id;
    entry.run_id = ingest_.run_id_;
    entry.type = store::LogType::warning;
    entry.error_type = "InvalidPhone";
    entry.message = std::string(view(record.external_id)) + ": " + message;
    entry.created_at = batch_.now;
  }

  Ingest& ingest_;
  store::Batch& batch_;
  std::string cursor_;
  std::vector<std::string> refetch_;
  bool more_ = false;
  bool checkpointed_ = false;
};

Ingest::Ingest(store::Store& store, Target target, std::optional<int64_t> run_id, Options options)
    : store_(store), target_(std::move(target)), run_id_(run_id), options_(std::move(options)) {
  if (!options_.now) options_.now = system_now;
  reset(pending_);
}

Result<void> Ingest::record_failure(store::Batch& batch, std::string where, std::string reason,
                                    std::string_view raw_json) {
  ++batch.increments.failed;
  if (logged_failures_ < options_.logged_examples) {
    ++logged_failures_;
    store::LogEntry& entry = batch.logs.emplace_back();
    entry.business_id = target_.business_id;
    entry.integration_id = target_.integration_id;
    entry.run_id = run_id_;
    entry.type = store::LogType::error;
    entry.error_type = "ParseError";
    entry.message = where.empty() ? reason : where + ": " + reason;
    // An object past the limit is kept cut short (and then as a JSON string, see the store).
    entry.raw_json = raw_json.size() <= limits::kRawJson ? std::string(raw_json)
                                                         : loggable(raw_json, limits::kRawJson);
    entry.created_at = batch.now;
  }
  if (errors_.size() < options_.kept_errors) {
    errors_.push_back(ItemError{std::move(where), std::move(reason)});
  }
  return {};
}

void Ingest::reset(store::Batch& batch) {
  batch.business_id = target_.business_id;
  batch.integration_id = target_.integration_id;
  batch.run_id = run_id_;
  batch.transactions.clear();
  batch.logs.clear();
  batch.increments = {};
  batch.cursor.reset();
  batch.now = options_.now();
  batch.inbox_done.clear();
  batch.lease_owner.clear();
}

Result<void> Ingest::commit(const store::Batch& batch) {
  auto committed = store_.commit_batch(batch);
  if (!committed) return committed.error();
  totals_.fetched += batch.increments.fetched;
  totals_.failed += batch.increments.failed;
  totals_.skipped += batch.increments.skipped;
  totals_.inserted += committed->inserted;
  totals_.duplicates += committed->duplicates;
  return log_duplicates(batch, *committed);
}

Result<std::vector<std::string>> Ingest::ingest_call(
    const std::function<Result<void>(plugin_host::RecordSink&)>& call) {
  auto named = add_call(call);
  if (!named) return named.error();
  if (auto committed = commit_pending(); !committed) return committed.error();
  return named;
}

Result<std::vector<std::string>> Ingest::add_call(
    const std::function<Result<void>(plugin_host::RecordSink&)>& call) {
  const size_t transactions = pending_.transactions.size();
  const size_t logs = pending_.logs.size();
  const store::RunIncrements increments = pending_.increments;
  const int logged_failures = logged_failures_;
  const size_t errors = errors_.size();
  Collector collector(*this, pending_);
  if (auto called = call(collector); !called) {
    pending_.transactions.resize(transactions);
    pending_.logs.resize(logs);
    pending_.increments = increments;
    logged_failures_ = logged_failures;
    errors_.resize(errors);
    return called.error();
  }
  return std::move(collector.refetch());
}

Result<void> Ingest::commit_pending(std::vector<int64_t> inbox_done, std::string lease_owner) {
  pending_.inbox_done = std::move(inbox_done);
  pending_.lease_owner = std::move(lease_owner);
  auto committed = commit(pending_);
  reset(pending_);
  if (!committed) return committed.error();
  if (options_.on_batch) options_.on_batch(totals_, "");
  return {};
}

Result<Ingest::Fetched> Ingest::fetch_batch(plugin_host::Instance& instance,
                                            const std::string& cursor, store::Batch& batch) {
  reset(batch);
  Collector collector(*this, batch);
  if (auto fetched = instance.fetch(cursor, collector); !fetched) return fetched.error();
  if (!collector.checkpointed()) {
    return fail(CRMSYNC_E_INTERNAL,
                "connector " + target_.id_prefix + " returned from fetch without a checkpoint");
  }
  batch.cursor = collector.cursor();
  return Fetched{std::move(collector.cursor()), collector.more()};
}

Result<std::string> Ingest::run(plugin_host::Instance& instance, std::string cursor) {
  // Two batches take turns: while the store commits one on this thread, the connector fills the
  // other on a second one, so reading and normalizing overlap the database's work. The cursor
  // still only advances with a committed batch.
  store::Batch batches[2];
  int current = 0;
  Result<Fetched> fetched = fetch_batch(instance, cursor, batches[current]);
  for (;;) {
    if (!fetched) return fetched.error();
    const Fetched done = std::move(*fetched);
    store::Batch& batch = batches[current];
    std::future<Result<Fetched>> next;
    if (done.more) {
      // Sized like this one at once: growing by doubling would hold the old and the new array,
      // and the peak memory of a long import is two batches.
      batches[1 - current].transactions.reserve(batch.transactions.size());
      next = std::async(std::launch::async, [&, from = done.cursor, other = 1 - current] {
        return fetch_batch(instance, from, batches[other]);
      });
    }
    if (auto committed = commit(batch); !committed) {
      if (next.valid()) next.wait();  // its batch is dropped: the cursor stays before it
      return committed.error();
    }
    if (options_.on_batch) options_.on_batch(totals_, done.cursor);
    if (!done.more) return done.cursor;
    fetched = next.get();
    current = 1 - current;
  }
}

Result<void> Ingest::log_duplicates(const store::Batch& batch, const store::BatchResult& result) {
  if (result.duplicates == 0 || logged_duplicates_ >= options_.logged_examples) return {};
  std::vector<store::LogEntry> entries;
  for (size_t i = 0; i < result.outcomes.size() && logged_duplicates_ < options_.logged_examples;
       ++i) {
    if (result.outcomes[i] != store::Outcome::duplicate) continue;
    ++logged_duplicates_;
    store::LogEntry& entry = entries.emplace_back();
    entry.business_id = target_.business_id;
    entry.integration_id = target_.integration_id;
    entry.run_id = run_id_;
    entry.type = store::LogType::success;
    entry.message = "Duplicate skipped: " + batch.transactions[i].external_id;
    entry.created_at = batch.now;
  }
  return store_.append_logs(entries);
}

const Totals& Ingest::totals() const noexcept {
  return totals_;
}

const std::vector<ItemError>& Ingest::errors() const noexcept {
  return errors_;
}

std::string Ingest::summary() const {
  std::string text = "Imported " + std::to_string(totals_.inserted) + " transactions, " +
                     std::to_string(totals_.failed) + (totals_.failed == 1 ? " error" : " errors");
  if (totals_.duplicates > 0) {
    text += ", " + std::to_string(totals_.duplicates) + " duplicates skipped";
  }
  if (totals_.skipped > 0) {
    text += ", " + std::to_string(totals_.skipped) + " not sales";
  }
  return text;
}

}  // namespace crmsync::pipeline
