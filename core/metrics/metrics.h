// Operations metrics of the host (DESIGN §8): a small thread-safe registry of counters, gauges and
// histograms with labels, families collected at scrape time from callbacks (database gauges,
// other subsystems' statistics), and the Prometheus text exposition format 0.0.4 that
// `GET /metrics` serves.
//
// Written by hand: Debian 12 packages no Prometheus client library for C++ (DESIGN §10).
//
// Updates are cheap from many threads: a series is looked up once (a shared lock on its family)
// and kept as a reference, which stays valid for the registry's lifetime; its value is an atomic.
//
// Families of the host (names stable; the README lists them):
//   crmsync_crm_requests_total{integration,status}          counter: HTTP requests connectors made
//       to their CRM, by the final HTTP status code, or "error" when no response came back
//       (transport failure, timeout, retries exhausted on 429/5xx, cancellation)
//   crmsync_crm_request_duration_seconds{integration}       histogram: time of one such request as
//       the connector sees it, the host's retries and rate-limit waits included
//   crmsync_inbox_pending{integration}                      gauge: received webhooks not processed
//   crmsync_retry_pending{integration}                      gauge: failed records waiting for retry
//   crmsync_outbox_pending{integration}                     gauge: sales not yet delivered to the
//       loyalty module (integration empty: the sale's integration was deleted)
//   crmsync_sync_runs_total{integration,status}             counter: finished sync runs by status
//       (success, failed, abandoned)
//   crmsync_records_fetched_total{integration}              counter: records read from the CRM
//   crmsync_records_inserted_total{integration}             counter: new transactions stored
//   crmsync_records_duplicate_total{integration}            counter: records already stored
//   crmsync_records_failed_total{integration}               counter: records that could not be
//       stored (sent to the retry queue)
//   crmsync_errors_total{integration,error_type}            counter: error lines of
//       integration_logs
//   crmsync_webhook_requests_total{result}                  counter: webhook requests by result
//       (accepted, duplicate, unauthorized, not_found, unavailable), registered by serve
//   crmsync_webhook_inbox_writes_total{kind}                counter: group commits and fsyncs of
//       received webhooks, registered by serve
//   crmsync_webhook_mapping_lag_seconds                     gauge: age of the oldest webhook
//       not yet processed (new, being mapped or waiting for a retry), registered by serve
//   crmsync_webhook_mapping_pauses_total                    counter: inbox worker passes paused
//       for the receiver during a burst, registered by serve
//   crmsync_metrics_collect_errors_total                    counter: scrape-time collections that
//       failed (the database unreachable); their families are left out of that scrape
#ifndef CRMSYNC_CORE_METRICS_METRICS_H
#define CRMSYNC_CORE_METRICS_METRICS_H

#include "base/result.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::metrics {

// The kind of a family, as written on its TYPE line.
enum class Type { counter, gauge, histogram };

// Label values of one series, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

// A value that only goes up. Values are doubles, exact for integers up to 2^53.
class Counter {
 public:
  // Adds by (>= 0; a negative amount is a broken invariant and aborts).
  void inc(double by = 1) noexcept;
  // The current value.
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  // Replaces the value.
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  // Adds by (negative to subtract).
  void add(double by) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  // The current value.
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets, with their sum.
class Histogram {
 public:
  // bounds are the buckets' upper bounds, strictly increasing and finite (+Inf is implicit).
  explicit Histogram(std::span<const double> bounds);
  // Counts value into the first bucket whose bound is >= value.
  void observe(double value) noexcept;

  // A consistent-enough copy for rendering: cumulative counts per bound, then +Inf.
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 entries; the last is the count
    double sum = 0;
  };
  Snapshot snapshot() const;

 private:
  std::span<const double> bounds_;                   // owned by the family
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; last is +Inf
  std::atomic<double> sum_{0};
};

// Bucket bounds for calls to CRM APIs: 50 ms to 30 s.
inline constexpr double kCrmLatencyBuckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

namespace internal {

// Orders label value lists, and lets std::string_view lists find std::string keys.
struct LabelLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// What every family has: its name, help, type and label names.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names,
             std::vector<double> bounds);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;
  const std::string& name() const noexcept { return name_; }
  // Same type, label names and buckets: registering it again returns the existing family.
  bool same_shape(const FamilyBase& other) const;
  // Appends the family's HELP, TYPE and sample lines.
  virtual void render(std::string& out) const = 0;

 protected:
  // Aborts unless values has one value per label name.
  void check_arity(size_t values) const;
  std::string name_;
  std::string help_;
  Type type_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
};

}  // namespace internal

// The series of one metric, one per combination of label values. T is Counter, Gauge or
// Histogram.
template <class T>
class Family final : public internal::FamilyBase {
 public:
  // Families are made by the Registry.
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> bounds = {});

  // The series with these label values (created at zero on first use). The reference stays
  // valid as long as the registry: keep it where the same series is updated often. A wrong
  // number of values is a broken invariant and aborts.
  T& with(std::initializer_list<std::string_view> values);
  T& with(std::span<const std::string> values);

  // Appends HELP, TYPE and every series (a histogram's as _bucket, _sum and _count lines).
  void render(std::string& out) const override;

 private:
  T& find_or_add(std::span<const std::string_view> values);

  mutable std::shared_mutex mutex_;
  std::map<LabelValues, std::unique_ptr<T>, internal::LabelLess> series_;
};

// The three kinds of families the registry makes.
using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// One sample of a collected family.
struct Sample {
  LabelValues labels;  // in the order of the family's label names
  double value = 0;
};

// A counter or gauge family whose samples are read at scrape time.
struct CollectedFamily {
  std::string name;
  std::string help;
  Type type = Type::gauge;  // counter or gauge
  std::vector<std::string> label_names;
  std::vector<Sample> samples;
};

// Reads families at scrape time; an Error leaves them out of that scrape and is counted in
// crmsync_metrics_collect_errors_total.
using Collector = std::function<Result<std::vector<CollectedFamily>>()>;

// The metrics of one process. Thread-safe; families live as long as the registry.
class Registry {
 public:
  // Registers crmsync_metrics_collect_errors_total.
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family, or returns the one registered under this name with the same type,
  // labels and buckets (several components may ask for it). Names follow Prometheus' rules
  // ([a-zA-Z_:][a-zA-Z0-9_:]*, labels [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"); a bad name,
  // or a name taken by a different family, is a broken invariant and aborts.
  CounterFamily& counter(std::string name, std::string help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  // bounds: strictly increasing finite upper bounds ("le" may not be a label name).
  HistogramFamily& histogram(std::string name, std::string help,
                             std::vector<std::string> label_names, std::span<const double> bounds);

  // Adds families read at scrape time, rendered after the registered ones in the order added.
  void add_collector(Collector collector);

  // The text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4): every family
  // with its HELP and TYPE lines, series sorted by label values. Runs the collectors.
  std::string render() const;

 private:
  template <class F>
  F& add(std::unique_ptr<F> family);

  mutable std::mutex mutex_;  // registration and collectors; never taken by series updates
  std::vector<std::unique_ptr<internal::FamilyBase>> families_;
  std::vector<Collector> collectors_;
  Counter* collect_errors_ = nullptr;  // crmsync_metrics_collect_errors_total
};

// The Content-Type of render()'s output.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Registers one family read at scrape time from read(), e.g. webhook requests by result from
// the receiver's stats():
//   add_callback(registry, "crmsync_webhook_requests_total", "...", Type::counter, {"result"},
//                [&receiver] { auto s = receiver.stats(); return std::vector<Sample>{...}; });
void add_callback(Registry& registry, std::string name, std::string help, Type type,
                  std::vector<std::string> label_names, std::function<std::vector<Sample>()> read);

// A number as Prometheus writes it: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string format_value(double value);

// A label value with \\, \" and \n escaped.
std::string escape_label_value(std::string_view value);

}  // namespace crmsync::metrics

#endif  // CRMSYNC_CORE_METRICS_METRICS_H
