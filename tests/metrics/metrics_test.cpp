// Tests of the metrics: the Prometheus text format written exactly (escaping, cumulative
// histogram buckets, +Inf, sum and count, numbers), exact counts under many threads, scrape-time
// families, the store's collector on SQLite and the throwaway PostgreSQL (queue depths, runs,
// records and errors, counted incrementally across scrapes), requests to a CRM counted and timed
// through StoreHostServices against crmsim over loopback, and every rendered output read back
// by a strict parser of the exposition format.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "metrics/metrics.h"
#include "metrics/store_metrics.h"
#include "sim_process.h"
#include "support/backends.h"
#include "support/ports.h"
#include "sync/host_services.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

using namespace crmsync;
using namespace std::chrono_literals;
using metrics::Registry;
using metrics::Sample;
using metrics::Type;

namespace {

// ---- a strict reader of the text exposition format 0.0.4 ------------------------------------

// The parsed samples: "name{a=\"x\",b=\"y\"}" (labels as written, unescaped) to value.
using Parsed = std::map<std::string, double>;

[[noreturn]] void reject(const std::string& line, const std::string& why) {
  FAIL("not exposition format (" << why << "): " << line);
  std::abort();
}

bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

std::string read_name(const std::string& line, size_t& i) {
  const size_t start = i;
  while (i < line.size() && name_char(line[i], i == start)) ++i;
  if (i == start) reject(line, "no name");
  return line.substr(start, i - start);
}

double read_value(const std::string& line, const std::string& text) {
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return NAN;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || text.find_first_of("xXpP") != std::string::npos ||
      text.find("inf") != std::string::npos || text.find("nan") != std::string::npos) {
    reject(line, "bad value `" + text + "`");
  }
  return value;
}

// Checks every rule a Prometheus server applies to a 0.0.4 scrape, and the histogram
// invariants (cumulative buckets, +Inf last and equal to _count).
Parsed parse_exposition(const std::string& text) {
  Parsed out;
  std::map<std::string, std::string> types;  // family name to type
  std::set<std::string> helped;
  std::string family;  // the family the current samples belong to
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // series to (le, count)
  REQUIRE((text.empty() || text.back() == '\n'));
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      size_t i = 7;
      const std::string name = read_name(line, i);
      if (i >= line.size() || line[i] != ' ') reject(line, "no text after the name");
      const std::string rest = line.substr(i + 1);
      if (line[2] == 'H') {
        if (!helped.insert(name).second) reject(line, "second HELP");
        for (size_t k = 0; k < rest.size(); ++k) {
          if (rest[k] == '\\' &&
              (k + 1 == rest.size() || (rest[k + 1] != '\\' && rest[k + 1] != 'n'))) {
            reject(line, "bad escape in HELP");
          }
          if (rest[k] == '\\') ++k;
        }
      } else {
        if (types.count(name)) reject(line, "second TYPE");
        if (rest != "counter" && rest != "gauge" && rest != "histogram") reject(line, "type");
        types[name] = rest;
        family = name;
      }
      continue;
    }
    if (line.empty() || line[0] == '#') reject(line, "empty line or stray comment");
    size_t i = 0;
    const std::string name = read_name(line, i);
    const std::string type = types.count(family) ? types[family] : "";
    const bool belongs =
        name == family ||
        (type == "histogram" &&
         (name == family + "_bucket" || name == family + "_sum" || name == family + "_count"));
    if (!belongs) reject(line, "sample outside its family");
    std::string key = name;
    std::string series = family;  // the histogram series without le
    std::optional<double> le;
    if (i < line.size() && line[i] == '{') {
      ++i;
      key += '{';
      series += '{';
      std::set<std::string> seen;
      while (true) {
        const std::string label = read_name(line, i);
        if (label.find(':') != std::string::npos || label.starts_with("__")) reject(line, "label");
        if (!seen.insert(label).second) reject(line, "label twice");
        if (line.compare(i, 2, "=\"") != 0) reject(line, "no =\"");
        i += 2;
        std::string value;
        while (true) {
          if (i >= line.size()) reject(line, "unterminated label value");
          const char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) reject(line, "escape at the end");
            const char e = line[i++];
            if (e == 'n') {
              value += '\n';
            } else if (e == '\\' || e == '"') {
              value += e;
            } else {
              reject(line, "bad escape");
            }
          } else {
            value += c;
          }
        }
        if (label == "le" && name == family + "_bucket") {
          le = read_value(line, value);
        } else {
          series += label + "=\"" + value + "\",";
        }
        key += label + "=\"" + value + "\",";
        if (i < line.size() && line[i] == ',') {
          ++i;
          continue;
        }
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        reject(line, "bad label list");
      }
      key += '}';
      series += '}';
    }
    if (i >= line.size() || line[i] != ' ') reject(line, "no space before the value");
    const std::string value_text = line.substr(i + 1);
    if (value_text.find(' ') != std::string::npos) reject(line, "timestamp or trailing text");
    const double value = read_value(line, value_text);
    if (name == family + "_bucket") {
      if (!le) reject(line, "bucket without le");
      buckets[series].emplace_back(*le, value);
    }
    if (!out.emplace(key, value).second) reject(line, "series twice");
  }
  for (const auto& [series, list] : buckets) {
    REQUIRE(!list.empty());
    CHECK(std::isinf(list.back().first));
    for (size_t k = 1; k < list.size(); ++k) {
      CHECK(list[k - 1].first < list[k].first);
      CHECK(list[k - 1].second <= list[k].second);
    }
    // series is "family{labels,}": the _count sample has the same labels.
    const size_t brace = series.find('{');
    const std::string count_key = series.substr(0, brace) + "_count" +
                                  (series.substr(brace) == "{}" ? "" : series.substr(brace));
    REQUIRE(out.count(count_key));
    CHECK(out[count_key] == list.back().second);
  }
  return out;
}

// ---- the text format -------------------------------------------------------------------------

TEST_CASE("render writes HELP, TYPE, labels and histograms exactly") {
  Registry registry;
  auto& requests = registry.counter("crmsync_test_requests_total", "Requests.\nBy result \\ kind.",
                                    {"integration", "status"});
  requests.with({"mindal", "200"}).inc(3);
  requests.with({"a\\b\"c\nd", "error"}).inc();
  registry.gauge("crmsync_test_depth", "Depth.").with({}).set(-2.5);
  const double bounds[] = {0.25, 1, 30};
  auto& latency = registry.histogram("crmsync_test_seconds", "Latency.", {"integration"}, bounds);
  auto& mindal = latency.with({"mindal"});
  for (double v : {0.125, 0.25, 0.5, 2.0, 100.0}) mindal.observe(v);

  CHECK(registry.render() ==
        "# HELP crmsync_metrics_collect_errors_total Scrape-time collections that failed; their "
        "families were left out.\n"
        "# TYPE crmsync_metrics_collect_errors_total counter\n"
        "crmsync_metrics_collect_errors_total 0\n"
        "# HELP crmsync_test_requests_total Requests.\\nBy result \\\\ kind.\n"
        "# TYPE crmsync_test_requests_total counter\n"
        "crmsync_test_requests_total{integration=\"a\\\\b\\\"c\\nd\",status=\"error\"} 1\n"
        "crmsync_test_requests_total{integration=\"mindal\",status=\"200\"} 3\n"
        "# HELP crmsync_test_depth Depth.\n"
        "# TYPE crmsync_test_depth gauge\n"
        "crmsync_test_depth -2.5\n"
        "# HELP crmsync_test_seconds Latency.\n"
        "# TYPE crmsync_test_seconds histogram\n"
        "crmsync_test_seconds_bucket{integration=\"mindal\",le=\"0.25\"} 2\n"
        "crmsync_test_seconds_bucket{integration=\"mindal\",le=\"1\"} 3\n"
        "crmsync_test_seconds_bucket{integration=\"mindal\",le=\"30\"} 4\n"
        "crmsync_test_seconds_bucket{integration=\"mindal\",le=\"+Inf\"} 5\n"
        "crmsync_test_seconds_sum{integration=\"mindal\"} 102.875\n"
        "crmsync_test_seconds_count{integration=\"mindal\"} 5\n");
  const Parsed parsed = parse_exposition(registry.render());
  CHECK(parsed.at("crmsync_test_requests_total{integration=\"a\\b\"c\nd\",status=\"error\",}") ==
        1);
}

TEST_CASE("numbers are written the way Prometheus reads them") {
  CHECK(metrics::format_value(0) == "0");
  CHECK(metrics::format_value(42) == "42");
  CHECK(metrics::format_value(0.05) == "0.05");
  CHECK(metrics::format_value(-2.5) == "-2.5");
  CHECK(metrics::format_value(9007199254740992.0) == "9007199254740992");
  CHECK(metrics::format_value(1e300) == "1e+300");
  CHECK(metrics::format_value(HUGE_VAL) == "+Inf");
  CHECK(metrics::format_value(-HUGE_VAL) == "-Inf");
  CHECK(metrics::format_value(NAN) == "NaN");
  for (double v : {0.1, 1.0 / 3, 123456.789, 1e-9}) {
    CHECK(std::strtod(metrics::format_value(v).c_str(), nullptr) == v);
  }
  CHECK(metrics::escape_label_value("plain") == "plain");
  CHECK(metrics::escape_label_value("\\\"\n") == "\\\\\\\"\\n");
}

TEST_CASE("a histogram counts bounds inclusively, and NaN and huge values in +Inf") {
  Registry registry;
  const double bounds[] = {1, 2};
  auto& h = registry.histogram("crmsync_test_h", "H.", {}, bounds).with({});
  h.observe(1);          // le="1" is inclusive
  h.observe(1.0000001);  // le="2"
  h.observe(1e308);
  const auto s = h.snapshot();
  CHECK(s.cumulative == std::vector<uint64_t>{1, 2, 3});
  h.observe(NAN);
  CHECK(h.snapshot().cumulative.back() == 4);
  const Parsed parsed = parse_exposition(registry.render());
  CHECK(std::isnan(parsed.at("crmsync_test_h_sum")));
  CHECK(parsed.at("crmsync_test_h_count") == 4);
}

TEST_CASE("many threads incrementing end with exact values") {
  Registry registry;
  auto& counter = registry.counter("crmsync_test_total", "T.", {"thread"});
  auto& shared = counter.with({"shared"});
  const double bounds[] = {0.5};
  auto& histogram = registry.histogram("crmsync_test_seconds", "S.", {"integration"}, bounds);
  constexpr int kThreads = 8;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& own = counter.with({std::to_string(t)});
      for (int i = 0; i < kIterations; ++i) {
        shared.inc();
        own.inc(2);
        // Looked up every time, as the HTTP path does, while other threads add series.
        histogram.with({"i" + std::to_string(i % 4)}).observe(i % 2 == 0 ? 0.25 : 1);
        counter.with({"shared"}).inc();
      }
    });
  }
  // Scrapes while the threads run must stay well-formed.
  for (int i = 0; i < 20; ++i) parse_exposition(registry.render());
  for (auto& thread : threads) thread.join();
  CHECK(shared.value() == 2.0 * kThreads * kIterations);
  const Parsed parsed = parse_exposition(registry.render());
  for (int t = 0; t < kThreads; ++t) {
    CHECK(parsed.at("crmsync_test_total{thread=\"" + std::to_string(t) + "\",}") ==
          2.0 * kIterations);
  }
  double count = 0;
  double below = 0;
  for (int k = 0; k < 4; ++k) {
    const std::string labels = "integration=\"i" + std::to_string(k) + "\",";
    count += parsed.at("crmsync_test_seconds_count{" + labels + "}");
    below += parsed.at("crmsync_test_seconds_bucket{" + labels + "le=\"0.5\",}");
  }
  CHECK(count == kThreads * kIterations);
  CHECK(below == kThreads * kIterations / 2);
}

TEST_CASE("asking for a family again returns the registered one") {
  Registry registry;
  auto& first = registry.counter("crmsync_test_total", "T.", {"a"});
  first.with({"x"}).inc();
  auto& again = registry.counter("crmsync_test_total", "T.", {"a"});
  CHECK(&first == &again);
  CHECK(again.with({"x"}).value() == 1);
  const std::vector<std::string> values{"x"};
  CHECK(&again.with(values) == &first.with({"x"}));
}

TEST_CASE("callback families are read at every scrape, after the registered ones") {
  Registry registry;
  struct Stats {
    uint64_t accepted = 0;
    uint64_t unauthorized = 0;
  } stats;
  metrics::add_callback(registry, "crmsync_webhook_requests_total", "Webhook requests by result.",
                        Type::counter, {"result"}, [&stats] {
                          return std::vector<Sample>{
                              {{"unauthorized"}, static_cast<double>(stats.unauthorized)},
                              {{"accepted"}, static_cast<double>(stats.accepted)}};
                        });
  stats.accepted = 7;
  stats.unauthorized = 1;
  const std::string text = registry.render();
  CHECK(text.find("# TYPE crmsync_webhook_requests_total counter\n"
                  "crmsync_webhook_requests_total{result=\"accepted\"} 7\n"
                  "crmsync_webhook_requests_total{result=\"unauthorized\"} 1\n") !=
        std::string::npos);
  stats.accepted = 9;
  CHECK(parse_exposition(registry.render())
            .at("crmsync_webhook_requests_total{result=\"accepted\",}") == 9);
}

TEST_CASE("a failing collector is counted and its families are left out of that scrape") {
  Registry registry;
  bool healthy = false;
  registry.add_collector([&healthy]() -> Result<std::vector<metrics::CollectedFamily>> {
    if (!healthy) return fail(CRMSYNC_E_UNAVAILABLE, "database down");
    metrics::CollectedFamily f;
    f.name = "crmsync_test_pending";
    f.help = "P.";
    f.label_names = {"integration"};
    f.samples = {{{"mindal"}, 3}};
    return std::vector<metrics::CollectedFamily>{f};
  });
  Parsed parsed = parse_exposition(registry.render());
  CHECK(parsed.at("crmsync_metrics_collect_errors_total") == 1);
  CHECK(parsed.count("crmsync_test_pending{integration=\"mindal\",}") == 0);
  healthy = true;
  parsed = parse_exposition(registry.render());
  CHECK(parsed.at("crmsync_metrics_collect_errors_total") == 1);
  CHECK(parsed.at("crmsync_test_pending{integration=\"mindal\",}") == 3);
}

// ---- the store's collector -------------------------------------------------------------------

const store::Timestamp kT0 = store::Timestamp(1763389800000ms);  // 2025-11-17T14:30:00Z

// A store with one business and two integrations.
template <class B>
struct World {
  B db;
  std::unique_ptr<store::Store> store = store::open_store(db.config()).value();

  World() {
    REQUIRE(store->add_business(
        store::Business{"mindal", "Миндаль", "Europe/Moscow", "RU", "RUB", std::nullopt, kT0}));
    for (const char* id : {"mindal-yclients", "mindal-iiko"}) {
      store::Integration i;
      i.id = id;
      i.business_id = "mindal";
      i.crm_type = std::string(id).substr(7);
      i.created_at = i.updated_at = kT0;
      REQUIRE(store->create_integration(i));
    }
  }

  // A run of integration started and finished at `at` with these counters and status.
  void run(const std::string& integration, store::RunStatus status, int fetched, int new_sales,
           int failed, store::Timestamp at) {
    auto started = store->start_run(integration, store::RunTrigger::schedule, "host", 5min, at);
    REQUIRE(started.ok());
    REQUIRE(started->has_value());
    batch(integration, (*started)->id, fetched, new_sales, failed, at);
    REQUIRE(store->finish_run((*started)->id, "host", status, "", "", at + 1s));
  }

  // Commits new_sales new sales plus (fetched - new_sales - failed) already stored ones.
  void batch(const std::string& integration, int64_t run_id, int fetched, int new_sales, int failed,
             store::Timestamp at) {
    store::Batch b;
    b.business_id = "mindal";
    b.integration_id = integration;
    b.run_id = run_id;
    b.now = at;
    b.increments.fetched = fetched;
    b.increments.failed = failed;
    for (int k = 0; k < fetched - failed; ++k) {
      store::NormalizedTransaction t;
      // Sales past new_sales repeat the batch's first id: duplicates.
      t.external_id =
          integration + "-" + std::to_string(run_id) + "-" + std::to_string(k < new_sales ? k : 0);
      t.occurred_at = at;
      t.amount_minor = 1000;
      t.description = "Стрижка";
      b.transactions.push_back(t);
    }
    REQUIRE(store->commit_batch(b));
  }

  void error_line(const std::string& integration, const std::string& type, store::Timestamp at) {
    store::LogEntry e;
    e.business_id = "mindal";
    e.integration_id = integration;
    e.type = store::LogType::error;
    e.error_type = type;
    e.message = "failed";
    e.created_at = at;
    REQUIRE(store->append_logs({&e, 1}));
  }
};

TEST_CASE_TEMPLATE("ops_counts reports queue depths, runs and error lines above the watermarks", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> w;
  // Queues: two webhooks of yclients (one processed), a retry of iiko, outbox events of sales.
  for (const char* key : {"a", "b"}) {
    store::InboxItem item;
    item.integration_id = "mindal-yclients";
    item.received_at = kT0;
    item.body = "{}";
    item.dedup_key = key;
    REQUIRE(w.store->enqueue_webhook(item).value());
  }
  store::LeasePolicy policy;
  auto claimed = w.store->claim_webhooks("host", 1, policy, kT0).value();
  REQUIRE(claimed.size() == 1);
  REQUIRE(w.store->complete_item(store::Queue::inbox, claimed[0].id, "host", kT0));
  REQUIRE(w.store->enqueue_retry(
      store::RetryItem{0, "mindal-iiko", "IIKO-1", "{}", 0, store::ItemStatus::pending, kT0, ""}));
  w.run("mindal-yclients", store::RunStatus::success, 5, 3, 1, kT0);  // 3 new, 1 duplicate
  w.run("mindal-iiko", store::RunStatus::failed, 2, 2, 0, kT0 + 1min);
  w.error_line("mindal-iiko", "ConnectionError", kT0);
  w.error_line("mindal-iiko", "ConnectionError", kT0 + 1min);
  w.error_line("mindal-iiko", "", kT0 + 1min);
  // A warning is not an error.
  store::LogEntry warning;
  warning.business_id = "mindal";
  warning.integration_id = "mindal-iiko";
  warning.type = store::LogType::warning;
  warning.error_type = "ParseError";
  warning.message = "odd";
  warning.created_at = kT0;
  REQUIRE(w.store->append_logs({&warning, 1}));

  // Everything written before kT0 + 30s is settled; the rest is not.
  auto counts = w.store->ops_counts({0, 0, kT0 + 30s, kT0 - 24h}).value();
  REQUIRE(counts.queues.size() == 2);
  CHECK(counts.queues[0].integration_id == "mindal-iiko");
  CHECK(counts.queues[0].inbox == 0);
  CHECK(counts.queues[0].retry == 1);
  CHECK(counts.queues[0].outbox == 2);
  CHECK(counts.queues[1].integration_id == "mindal-yclients");
  CHECK(counts.queues[1].inbox == 1);
  CHECK(counts.queues[1].retry == 0);
  CHECK(counts.queues[1].outbox == 3);

  // The yclients run (first id) finished at kT0 + 1s: settled; the iiko run at kT0 + 61s: not.
  const int64_t yclients_run = w.store->list_runs("mindal-yclients", 1).value()[0].id;
  CHECK(counts.runs_settled_through == yclients_run);
  REQUIRE(counts.runs.size() == 2);
  for (const store::RunTotals& t : counts.runs) {
    if (t.integration_id == "mindal-yclients") {
      CHECK(t.status == store::RunStatus::success);
      CHECK(t.settled);
      CHECK(t.runs == 1);
      CHECK(t.counts.fetched == 5);
      CHECK(t.counts.inserted == 3);
      CHECK(t.counts.duplicates == 1);
      CHECK(t.counts.failed == 1);
    } else {
      CHECK(t.integration_id == "mindal-iiko");
      CHECK(t.status == store::RunStatus::failed);
      CHECK_FALSE(t.settled);
      CHECK(t.counts.inserted == 2);
    }
  }
  // Log lines: the batch wrote none; the first error line is settled, the other two are not.
  REQUIRE(counts.errors.size() == 3);
  int64_t settled = 0;
  int64_t connection = 0;
  for (const store::ErrorTotals& t : counts.errors) {
    CHECK(t.integration_id == "mindal-iiko");
    if (t.settled) settled += t.lines;
    if (t.error_type == "ConnectionError") connection += t.lines;
  }
  CHECK(settled == 1);
  CHECK(connection == 2);

  // Above the watermarks only the newer rows come back.
  auto later = w.store
                   ->ops_counts({counts.runs_settled_through, counts.logs_settled_through, kT0 + 1h,
                                 kT0 - 24h})
                   .value();
  REQUIRE(later.runs.size() == 1);
  CHECK(later.runs[0].integration_id == "mindal-iiko");
  CHECK(later.runs[0].settled);
  int64_t lines = 0;
  for (const auto& t : later.errors) lines += t.lines;
  CHECK(lines == 2);
  CHECK(later.logs_settled_through > counts.logs_settled_through);

  // A watermark beyond every row (rows deleted since) never moves back.
  auto beyond = w.store->ops_counts({1000, 1000, kT0 + 1h, kT0 - 24h}).value();
  CHECK(beyond.runs.empty());
  CHECK(beyond.runs_settled_through == 1000);
  CHECK(beyond.logs_settled_through == 1000);

  // A run still marked running holds the watermark until its lease ended before stale_before.
  auto stuck = w.store->start_run("mindal-yclients", store::RunTrigger::schedule, "dead-host", 5min,
                                  kT0 + 2h);
  REQUIRE(stuck.ok());
  REQUIRE(stuck->has_value());
  auto held = w.store->ops_counts({later.runs_settled_through, 0, kT0 + 3h, kT0}).value();
  CHECK(held.runs_settled_through == later.runs_settled_through);
  REQUIRE(held.runs.size() == 1);
  CHECK(held.runs[0].status == store::RunStatus::running);
  CHECK_FALSE(held.runs[0].settled);
  auto stale = w.store->ops_counts({later.runs_settled_through, 0, kT0 + 3h, kT0 + 3h}).value();
  CHECK(stale.runs_settled_through == (*stuck)->id);
  REQUIRE(stale.runs.size() == 1);
  CHECK(stale.runs[0].settled);
}

TEST_CASE_TEMPLATE("store metrics keep exact totals while scrapes fold settled rows", B,
                   CRMSYNC_TEST_BACKENDS) {
  World<B> w;
  store::Timestamp now = kT0;
  Registry registry;
  metrics::add_store_metrics(registry, *w.store, {[&now] { return now; }, 10min});
  auto scrape = [&] { return parse_exposition(registry.render()); };
  auto value = [](const Parsed& p, const std::string& key) {
    auto it = p.find(key);
    return it == p.end() ? -1.0 : it->second;
  };
  const std::string ok_yclients =
      "crmsync_sync_runs_total{integration=\"mindal-yclients\",status=\"success\",}";
  const std::string inserted_yclients =
      "crmsync_records_inserted_total{integration=\"mindal-yclients\",}";

  Parsed p = scrape();
  CHECK(value(p, "crmsync_inbox_pending{integration=\"mindal-iiko\",}") == 0);
  CHECK(value(p, ok_yclients) == -1);

  // A run that is still going: its records count, the run itself once it finished.
  auto running =
      w.store->start_run("mindal-yclients", store::RunTrigger::manual, "host", 5min, now).value();
  REQUIRE(running);
  w.batch("mindal-yclients", running->id, 4, 4, 0, now);
  w.run("mindal-iiko", store::RunStatus::success, 1, 1, 0, now);
  w.error_line("mindal-iiko", "ParseError", now);
  now += 20min;  // the iiko run settles; the running one holds the watermark below it
  p = scrape();
  CHECK(value(p, ok_yclients) == -1);
  CHECK(value(p, inserted_yclients) == 4);
  CHECK(value(p, "crmsync_sync_runs_total{integration=\"mindal-iiko\",status=\"success\",}") == 1);
  CHECK(value(p, "crmsync_errors_total{integration=\"mindal-iiko\",error_type=\"ParseError\",}") ==
        1);

  REQUIRE(w.store->finish_run(running->id, "host", store::RunStatus::success, "", "", now));
  for (int k = 0; k < 3; ++k) {
    w.run("mindal-yclients", store::RunStatus::success, 2, 1, 0, now + std::chrono::minutes(k));
    w.run("mindal-iiko", store::RunStatus::failed, 0, 0, 0, now + std::chrono::minutes(k));
    w.error_line("mindal-iiko", "ConnectionError", now + std::chrono::minutes(k));
  }
  // Scrapes at several points of the settling: totals are the same whichever rows are folded.
  for (auto step : {0min, 1min, 11min, 12min, 30min, 30min}) {
    now += step;
    p = scrape();
    CHECK(value(p, ok_yclients) == 4);
    CHECK(value(p, inserted_yclients) == 7);
    CHECK(value(p, "crmsync_records_duplicate_total{integration=\"mindal-yclients\",}") == 3);
    CHECK(value(p, "crmsync_records_fetched_total{integration=\"mindal-yclients\",}") == 10);
    CHECK(value(p, "crmsync_sync_runs_total{integration=\"mindal-iiko\",status=\"failed\",}") == 3);
    CHECK(
        value(
            p,
            "crmsync_errors_total{integration=\"mindal-iiko\",error_type=\"ConnectionError\",}") ==
        3);
    CHECK(value(p, "crmsync_outbox_pending{integration=\"mindal-yclients\",}") == 7);
  }
  // Sales of a deleted integration still wait in the outbox, under an empty integration.
  REQUIRE(w.store->delete_integration("mindal-iiko"));
  p = scrape();
  CHECK(value(p, "crmsync_outbox_pending{integration=\"\",}") == 1);
  CHECK(value(p, "crmsync_inbox_pending{integration=\"mindal-iiko\",}") == -1);
  // Counters never go down within the process.
  CHECK(value(p, "crmsync_sync_runs_total{integration=\"mindal-iiko\",status=\"failed\",}") == 3);
}

TEST_CASE("store metrics are left out of a scrape when the database fails") {
  test::Sqlite db;
  auto store = store::open_store(db.config()).value();
  Registry registry;
  metrics::add_store_metrics(registry, *store);
  std::string text = registry.render();
  parse_exposition(text);
  CHECK(text.find("# TYPE crmsync_retry_pending gauge\n") != std::string::npos);
  CHECK(text.find("crmsync_metrics_collect_errors_total 0\n") != std::string::npos);
  // A table the query reads is gone (a damaged or foreign database): an error, not a crash.
  sqlite3* handle = nullptr;
  REQUIRE(sqlite3_open(db.config().target.c_str(), &handle) == SQLITE_OK);
  REQUIRE(sqlite3_exec(handle, "DROP TABLE retry_queue", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(handle);
  text = registry.render();
  const Parsed parsed = parse_exposition(text);
  CHECK(parsed.at("crmsync_metrics_collect_errors_total") == 1);
  CHECK(text.find("crmsync_retry_pending") == std::string::npos);
  CHECK(text.find("crmsync_errors_total") == std::string::npos);
}

// ---- requests to CRMs ------------------------------------------------------------------------

TEST_CASE("StoreHostServices counts and times every request to a CRM") {
  sim::testing::SimProcess sim({"--records", "1"});
  test::Sqlite db;
  auto store = store::open_store(db.config()).value();
  Registry registry;
  sync::HttpDefaults http;
  http.metrics = &registry;
  sync::StoreHostServices services(*store, http, {}, [] { return kT0; });
  auto request = [&](const std::string& url) {
    plugin_host::HttpRequest r;
    r.method = "GET";
    r.url = url;
    r.headers = {{"Accept", "application/vnd.yclients.v2+json"},
                 {"Authorization", "Bearer partner-secret, User user-secret"}};
    r.no_retry = true;
    return r;
  };
  REQUIRE(
      services.http("mindal-yclients", request(sim.url("/yclients/api/v1/company/4564")))->status ==
      200);
  REQUIRE(
      services.http("mindal-yclients", request(sim.url("/yclients/api/v1/company/4564")))->status ==
      200);
  REQUIRE(
      services.http("mindal-yclients", request(sim.url("/yclients/api/v1/company/1")))->status ==
      404);
  // Nothing listens: no response at all.
  const std::string closed = "http://127.0.0.1:" + std::to_string(test::closed_port()) + "/";
  CHECK_FALSE(services.http("mindal-iiko", request(closed)).ok());

  const Parsed p = parse_exposition(registry.render());
  CHECK(p.at("crmsync_crm_requests_total{integration=\"mindal-yclients\",status=\"200\",}") == 2);
  CHECK(p.at("crmsync_crm_requests_total{integration=\"mindal-yclients\",status=\"404\",}") == 1);
  CHECK(p.at("crmsync_crm_requests_total{integration=\"mindal-iiko\",status=\"error\",}") == 1);
  CHECK(p.at("crmsync_crm_request_duration_seconds_count{integration=\"mindal-yclients\",}") == 3);
  CHECK(p.at("crmsync_crm_request_duration_seconds_count{integration=\"mindal-iiko\",}") == 1);
  const double sum =
      p.at("crmsync_crm_request_duration_seconds_sum{integration=\"mindal-yclients\",}");
  CHECK(sum > 0);
  CHECK(sum < 30);
  CHECK(p.count(
      "crmsync_crm_request_duration_seconds_bucket{integration=\"mindal-yclients\",le=\"0.05\",}"));
  CHECK(p.count(
      "crmsync_crm_request_duration_seconds_bucket{integration=\"mindal-yclients\",le=\"30\",}"));

  // A second services object on the same registry shares the families.
  sync::StoreHostServices again(*store, http, {}, [] { return kT0; });
  REQUIRE(again.http("mindal-yclients", request(sim.url("/yclients/api/v1/company/4564"))).ok());
  CHECK(parse_exposition(registry.render())
            .at("crmsync_crm_requests_total{integration=\"mindal-yclients\",status=\"200\",}") ==
        3);
}

TEST_CASE("StoreHostServices without a registry records nothing") {
  sim::testing::SimProcess sim({"--records", "1"});
  test::Sqlite db;
  auto store = store::open_store(db.config()).value();
  sync::StoreHostServices services(*store, sync::HttpDefaults{}, {}, [] { return kT0; });
  plugin_host::HttpRequest r;
  r.method = "GET";
  r.url = sim.url("/yclients/api/v1/company/1");
  REQUIRE(services.http("mindal-yclients", r).ok());
  Registry registry;  // nothing registered the HTTP families
  CHECK(registry.render().find("crmsync_crm_requests_total") == std::string::npos);
}

}  // namespace
