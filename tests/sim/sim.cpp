// The CRM simulator's framework helpers: routes, randomness, time formats.
#include "sim.h"

#include <date/date.h>

#include <cctype>
#include <charconv>
#include <cstdio>

namespace crmsync::sim {

std::string SimRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

std::optional<int64_t> SimRequest::int_param(const std::string& name, int64_t fallback) const {
  const auto it = query.find(name);
  if (it == query.end()) return fallback;
  int64_t value = 0;
  const auto& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1) return std::nullopt;
  return value;
}

Reply Reply::json(int status, const Json& body) {
  Reply reply;
  reply.status = status;
  reply.body = body.dump();
  return reply;
}

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    if (path[start] == '/') {
      ++start;
      continue;
    }
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end;
  }
  return out;
}

}  // namespace

void Routes::add(std::string method, std::string pattern, std::string endpoint, Handler handler) {
  routes_.push_back(
      {std::move(method), split_path(pattern), std::move(endpoint), std::move(handler)});
}

std::optional<Routes::Match> Routes::match(const std::string& method, const std::string& path,
                                           std::map<std::string, std::string>& params) const {
  const auto segments = split_path(path);
  for (const auto& route : routes_) {
    if (route.method != method || route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> captured;
    bool ok = true;
    for (size_t i = 0; i < segments.size() && ok; ++i) {
      const auto& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        captured[want.substr(1, want.size() - 2)] = segments[i];
      } else {
        ok = want == segments[i];
      }
    }
    if (ok) {
      params = std::move(captured);
      return Match{&route.endpoint, &route.handler};
    }
  }
  return std::nullopt;
}

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c) {
  Rng rng(a * 0x100000001b3ULL ^ (b + 0x9e3779b97f4a7c15ULL) ^ (c << 32 | c >> 32));
  rng.next();
  return rng.next();
}

std::string money_text(int64_t kopecks) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%lld.%02lld", static_cast<long long>(kopecks / 100),
                static_cast<long long>(kopecks % 100));
  return buffer;
}

std::string local_text(SimTime t, int offset_hours) {
  return date::format("%Y-%m-%d %H:%M:%S", t + std::chrono::hours(offset_hours));
}

std::string offset_text(int offset_hours, bool colon) {
  char buf[16];
  std::snprintf(buf, sizeof buf, colon ? "%c%02d:00" : "%c%02d00", offset_hours < 0 ? '-' : '+',
                offset_hours < 0 ? -offset_hours : offset_hours);
  return buf;
}

std::optional<SimTime> parse_time(std::string_view text, int default_offset_hours) {
  auto digits = [&](size_t at, size_t n) -> std::optional<int> {
    if (at + n > text.size()) return std::nullopt;
    int value = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2);
  if (!y || !mo || !d || text[4] != '-' || text[7] != '-') return std::nullopt;
  const date::year_month_day ymd{date::year(*y), date::month(static_cast<unsigned>(*mo)),
                                 date::day(static_cast<unsigned>(*d))};
  if (!ymd.ok()) return std::nullopt;
  SimTime t = date::sys_days(ymd);
  size_t at = 10;
  if (text.size() > at) {
    if (text[at] != 'T' && text[at] != ' ') return std::nullopt;
    const auto h = digits(at + 1, 2), mi = digits(at + 4, 2), s = digits(at + 7, 2);
    if (!h || !mi || !s || text[at + 3] != ':' || text[at + 6] != ':' || *h > 23 || *mi > 59 ||
        *s > 60) {
      return std::nullopt;
    }
    t += std::chrono::hours(*h) + std::chrono::minutes(*mi) + std::chrono::seconds(*s);
    at += 9;
    if (at < text.size() && text[at] == '.') {
      ++at;
      while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
    }
  }
  if (at == text.size()) return t - std::chrono::hours(default_offset_hours);
  if (text[at] == 'Z' && at + 1 == text.size()) return t;
  if (text[at] != '+' && text[at] != '-') return std::nullopt;
  const int sign = text[at] == '-' ? -1 : 1;
  const auto oh = digits(at + 1, 2);
  std::optional<int> om;
  if (at + 3 < text.size() && text[at + 3] == ':') {
    om = digits(at + 4, 2);
    if (at + 6 != text.size()) return std::nullopt;
  } else {
    om = digits(at + 3, 2);
    if (at + 5 != text.size()) return std::nullopt;
  }
  if (!oh || !om) return std::nullopt;
  return t - sign * (std::chrono::hours(*oh) + std::chrono::minutes(*om));
}

}  // namespace crmsync::sim
