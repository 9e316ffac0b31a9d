// The metrics registry and the Prometheus text format (see metrics.h).
#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace crmsync::metrics {

namespace {

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "crmsync metrics: %s\n", what.c_str());
  std::abort();
}

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  return valid_metric_name(name) && name.find(':') == std::string_view::npos &&
         !name.starts_with("__");
}

const char* type_name(Type type) {
  switch (type) {
    case Type::counter:
      return "counter";
    case Type::gauge:
      return "gauge";
    case Type::histogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes only backslash and newline.
std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void header(std::string& out, const std::string& name, const std::string& help, Type type) {
  out += "# HELP " + name + ' ' + escape_help(help) + '\n';
  out += "# TYPE " + name + ' ' + type_name(type) + '\n';
}

// One sample line: name{a="x",b="y"} value; extra is one more label (a histogram's le).
void sample(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
            const LabelValues& values, std::string_view extra_name, std::string_view extra_value,
            double value) {
  out += name;
  bool open = false;
  auto label = [&](std::string_view n, std::string_view v) {
    out += open ? ',' : '{';
    open = true;
    out += n;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  };
  for (size_t i = 0; i < label_names.size(); ++i) label(label_names[i], values[i]);
  if (!extra_name.empty()) label(extra_name, extra_value);
  if (open) out += '}';
  out += ' ';
  out += format_value(value);
  out += '\n';
}

// Aborts unless the family's names follow Prometheus' rules.
void validate(const std::string& name, Type type, const std::vector<std::string>& label_names) {
  if (!valid_metric_name(name)) broken("bad metric name `" + name + "`");
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    if (!valid_label_name(label)) broken("bad label name `" + label + "` of " + name);
    if (!seen.insert(label).second) broken("label `" + label + "` twice in " + name);
    if (type == Type::histogram && label == "le") broken("histogram " + name + " labelled le");
  }
}

}  // namespace

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc()) broken("cannot format a number");
  return std::string(buffer, end);
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Counter::inc(double by) noexcept {
  if (!(by >= 0)) broken("a counter was decreased");
  value_.fetch_add(by, std::memory_order_relaxed);
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) noexcept {
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[static_cast<size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

namespace internal {

FamilyBase::FamilyBase(std::string name, std::string help, Type type,
                       std::vector<std::string> label_names, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {
  validate(name_, type_, label_names_);
}

bool FamilyBase::same_shape(const FamilyBase& other) const {
  return type_ == other.type_ && label_names_ == other.label_names_ && bounds_ == other.bounds_;
}

void FamilyBase::check_arity(size_t values) const {
  if (values != label_names_.size()) {
    broken(name_ + " takes " + std::to_string(label_names_.size()) + " label values, not " +
           std::to_string(values));
  }
}

}  // namespace internal

template <class T>
Family<T>::Family(std::string name, std::string help, Type type,
                  std::vector<std::string> label_names, std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names),
                 std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i - 1] < bounds_[i]))) {
      broken("bucket bounds of " + name_ + " are not finite and increasing");
    }
  }
}

template <class T>
T& Family<T>::with(std::initializer_list<std::string_view> values) {
  return find_or_add(std::span<const std::string_view>(values.begin(), values.size()));
}

template <class T>
T& Family<T>::with(std::span<const std::string> values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  return find_or_add(views);
}

template <class T>
T& Family<T>::find_or_add(std::span<const std::string_view> values) {
  check_arity(values.size());
  {
    std::shared_lock lock(mutex_);
    if (auto it = series_.find(values); it != series_.end()) return *it->second;
  }
  std::unique_lock lock(mutex_);
  auto it = series_.find(values);
  if (it == series_.end()) {
    std::unique_ptr<T> series;
    if constexpr (std::is_same_v<T, Histogram>) {
      series = std::make_unique<T>(bounds_);
    } else {
      series = std::make_unique<T>();
    }
    it = series_.emplace(LabelValues(values.begin(), values.end()), std::move(series)).first;
  }
  return *it->second;
}

template <class T>
void Family<T>::render(std::string& out) const {
  header(out, name_, help_, type_);
  std::shared_lock lock(mutex_);
  for (const auto& [labels, series] : series_) {
    if constexpr (std::is_same_v<T, Histogram>) {
      const Histogram::Snapshot s = series->snapshot();
      const std::string bucket = name_ + "_bucket";
      for (size_t i = 0; i < bounds_.size(); ++i) {
        sample(out, bucket, label_names_, labels, "le", format_value(bounds_[i]),
               static_cast<double>(s.cumulative[i]));
      }
      sample(out, bucket, label_names_, labels, "le", "+Inf",
             static_cast<double>(s.cumulative.back()));
      sample(out, name_ + "_sum", label_names_, labels, {}, {}, s.sum);
      sample(out, name_ + "_count", label_names_, labels, {}, {},
             static_cast<double>(s.cumulative.back()));
    } else {
      sample(out, name_, label_names_, labels, {}, {}, series->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Registry() {
  collect_errors_ = &counter("crmsync_metrics_collect_errors_total",
                             "Scrape-time collections that failed; their families were left out.")
                         .with({});
}

template <class F>
F& Registry::add(std::unique_ptr<F> family) {
  std::lock_guard lock(mutex_);
  for (const auto& existing : families_) {
    if (existing->name() != family->name()) continue;
    auto* same = dynamic_cast<F*>(existing.get());
    if (same == nullptr || !same->same_shape(*family)) {
      broken("metric " + family->name() + " registered twice with different types or labels");
    }
    return *same;
  }
  F& added = *family;
  families_.push_back(std::move(family));
  return added;
}

CounterFamily& Registry::counter(std::string name, std::string help,
                                 std::vector<std::string> label_names) {
  return add(std::make_unique<CounterFamily>(std::move(name), std::move(help), Type::counter,
                                             std::move(label_names)));
}

GaugeFamily& Registry::gauge(std::string name, std::string help,
                             std::vector<std::string> label_names) {
  return add(std::make_unique<GaugeFamily>(std::move(name), std::move(help), Type::gauge,
                                           std::move(label_names)));
}

HistogramFamily& Registry::histogram(std::string name, std::string help,
                                     std::vector<std::string> label_names,
                                     std::span<const double> bounds) {
  return add(std::make_unique<HistogramFamily>(std::move(name), std::move(help), Type::histogram,
                                               std::move(label_names),
                                               std::vector<double>(bounds.begin(), bounds.end())));
}

void Registry::add_collector(Collector collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  // Collectors run first, without the registry's lock: they may be slow (the database), and
  // this scrape's collection errors belong in this scrape's counter.
  std::vector<CollectedFamily> collected;
  for (const Collector& collect : collectors) {
    auto families = collect();
    if (!families) {
      collect_errors_->inc();
      continue;
    }
    for (CollectedFamily& family : *families) collected.push_back(std::move(family));
  }
  std::string out;
  std::set<std::string> names;
  {
    std::lock_guard lock(mutex_);
    for (const auto& family : families_) {
      family->render(out);
      names.insert(family->name());
    }
  }
  for (CollectedFamily& family : collected) {
    if (family.type == Type::histogram)
      broken("collected family " + family.name + " is a histogram");
    validate(family.name, family.type, family.label_names);
    if (!names.insert(family.name).second) broken("metric " + family.name + " rendered twice");
    header(out, family.name, family.help, family.type);
    std::sort(family.samples.begin(), family.samples.end(),
              [](const Sample& a, const Sample& b) { return a.labels < b.labels; });
    for (const Sample& s : family.samples) {
      if (s.labels.size() != family.label_names.size()) {
        broken(family.name + " collected with a wrong number of label values");
      }
      sample(out, family.name, family.label_names, s.labels, {}, {}, s.value);
    }
  }
  return out;
}

void add_callback(Registry& registry, std::string name, std::string help, Type type,
                  std::vector<std::string> label_names, std::function<std::vector<Sample>()> read) {
  // Validated now rather than at the first scrape.
  if (type == Type::histogram) broken("callback family " + name + " is a histogram");
  validate(name, type, label_names);
  registry.add_collector([name = std::move(name), help = std::move(help), type,
                          label_names = std::move(label_names),
                          read = std::move(read)]() -> Result<std::vector<CollectedFamily>> {
    std::vector<CollectedFamily> out(1);
    out[0].name = name;
    out[0].help = help;
    out[0].type = type;
    out[0].label_names = label_names;
    out[0].samples = read();
    return out;
  });
}

}  // namespace crmsync::metrics
