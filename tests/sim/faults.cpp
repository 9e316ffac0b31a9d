// Fault rules of the CRM simulator: parsing and picking.
#include "faults.h"

#include <array>
#include <charconv>

namespace crmsync::sim {
namespace {

constexpr std::array<std::pair<FaultKind, std::string_view>, 10> kKinds = {{
    {FaultKind::http_500, "http_500"},
    {FaultKind::http_429, "http_429"},
    {FaultKind::slow, "slow"},
    {FaultKind::timeout, "timeout"},
    {FaultKind::reset, "reset"},
    {FaultKind::truncated, "truncated"},
    {FaultKind::invalid_json, "invalid_json"},
    {FaultKind::expired_token, "expired_token"},
    {FaultKind::empty_page, "empty_page"},
    {FaultKind::repeat_page, "repeat_page"},
}};

std::string_view kind_name(FaultKind kind) {
  for (const auto& [k, name] : kKinds) {
    if (k == kind) return name;
  }
  return "?";
}

std::string kind_list() {
  std::string out;
  for (const auto& [k, name] : kKinds) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

}  // namespace

Result<Fault> fault_from_json(const Json& json) {
  if (!json.is_object()) return fail(CRMSYNC_E_INVALID_INPUT, "a fault must be a JSON object");
  Fault fault;
  try {
    const std::string kind = json.at("kind").get<std::string>();
    bool known = false;
    for (const auto& [k, name] : kKinds) {
      if (name == kind) {
        fault.kind = k;
        known = true;
      }
    }
    if (!known) {
      return fail(CRMSYNC_E_INVALID_INPUT,
                  "unknown fault kind '" + kind + "' (known: " + kind_list() + ")");
    }
    fault.provider = json.value("provider", "*");
    fault.endpoint = json.value("endpoint", "*");
    if (json.contains("count")) fault.count = json.at("count").get<uint32_t>();
    fault.probability = json.value("probability", 1.0);
    if (!json.contains("count") && !json.contains("probability")) fault.count = 1;
    fault.retry_after_s = json.value("retry_after", 1u);
    fault.retry_after_date = json.value("retry_after_date", false);
    const uint32_t default_delay = fault.kind == FaultKind::timeout ? 30'000u : 2'000u;
    fault.delay_ms = json.value("delay_ms", default_delay);
  } catch (const nlohmann::json::exception& e) {
    return fail(CRMSYNC_E_INVALID_INPUT, std::string("bad fault: ") + e.what());
  }
  if (fault.probability < 0 || fault.probability > 1) {
    return fail(CRMSYNC_E_INVALID_INPUT, "fault probability must be within [0, 1]");
  }
  if (fault.count && *fault.count == 0) {
    return fail(CRMSYNC_E_INVALID_INPUT, "fault count must be positive");
  }
  return fault;
}

Result<Fault> fault_from_flag(std::string_view text) {
  const std::string original(text);
  const size_t slash = text.find('/');
  const size_t colon = text.find(':');
  if (slash == std::string_view::npos || colon == std::string_view::npos || slash > colon) {
    return fail(CRMSYNC_E_INVALID_INPUT,
                "--fault '" + original + "': expected provider/endpoint:kind[,key=value...]");
  }
  Json json = {{"provider", std::string(text.substr(0, slash))},
               {"endpoint", std::string(text.substr(slash + 1, colon - slash - 1))}};
  text.remove_prefix(colon + 1);
  const size_t comma = text.find(',');
  json["kind"] = std::string(text.substr(0, comma));
  text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  while (!text.empty()) {
    const size_t next = text.find(',');
    const std::string_view pair = text.substr(0, next);
    text = next == std::string_view::npos ? std::string_view() : text.substr(next + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return fail(CRMSYNC_E_INVALID_INPUT,
                  "--fault '" + original + "': '" + std::string(pair) + "' is not key=value");
    }
    const std::string key(pair.substr(0, eq));
    const std::string value(pair.substr(eq + 1));
    if (key == "retry_after_date") {
      json[key] = value == "1" || value == "true";
    } else if (key == "probability") {
      char* end = nullptr;
      json[key] = std::strtod(value.c_str(), &end);
      if (end != value.c_str() + value.size() || value.empty()) {
        return fail(CRMSYNC_E_INVALID_INPUT, "--fault '" + original + "': bad probability");
      }
    } else {
      uint32_t number = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return fail(CRMSYNC_E_INVALID_INPUT,
                    "--fault '" + original + "': " + key + " must be a non-negative integer");
      }
      json[key] = number;
    }
  }
  return fault_from_json(json);
}

Json fault_to_json(const Fault& fault) {
  Json json = {{"id", fault.id},
               {"provider", fault.provider},
               {"endpoint", fault.endpoint},
               {"kind", kind_name(fault.kind)},
               {"probability", fault.probability},
               {"retry_after", fault.retry_after_s},
               {"retry_after_date", fault.retry_after_date},
               {"delay_ms", fault.delay_ms}};
  json["count"] = fault.count ? Json(*fault.count) : Json(nullptr);
  return json;
}

uint64_t FaultSet::add(Fault fault) {
  fault.id = next_id_++;
  faults_.push_back(std::move(fault));
  return faults_.back().id;
}

std::optional<Fault> FaultSet::pick(const std::string& provider, const std::string& endpoint,
                                    Rng& rng) {
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if ((it->provider != "*" && it->provider != provider) ||
        (it->endpoint != "*" && it->endpoint != endpoint)) {
      continue;
    }
    if (!rng.chance(it->probability)) continue;
    Fault fired = *it;
    if (it->count && --*it->count == 0) faults_.erase(it);
    return fired;
  }
  return std::nullopt;
}

Json FaultSet::list() const {
  Json out = Json::array();
  for (const auto& fault : faults_) out.push_back(fault_to_json(fault));
  return out;
}

}  // namespace crmsync::sim
