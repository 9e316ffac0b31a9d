// JSON at the host's edges: every text from outside (API bodies, webhooks, stored rows, connector
// output) is parsed here with the SDK's depth limit, and every JSON the host writes (API answers,
// CLI --json, logs, metrics, e-mails) is serialised here so that stored text which is not valid
// UTF-8 comes out with U+FFFD instead of making the writer throw.
#ifndef CRMSYNC_CORE_BASE_JSON_H
#define CRMSYNC_CORE_BASE_JSON_H

#include <crmsync/connector_json.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace crmsync {

// How deep the arrays and objects of a JSON text from outside may nest (see sdk::kMaxJsonDepth).
inline constexpr size_t kMaxJsonDepth = sdk::kMaxJsonDepth;

// text as JSON, or INVALID_INPUT "<what> is not JSON" / "<what> nests deeper than 256 levels".
// `what` names the text for whoever reads the error ("the body").
inline Result<nlohmann::json> parse_json(std::string_view text, std::string_view what) {
  if (!sdk::json_depth_within(text)) {
    return fail(CRMSYNC_E_INVALID_INPUT, std::string(what) + " nests deeper than " +
                                             std::to_string(kMaxJsonDepth) + " levels");
  }
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded())
    return fail(CRMSYNC_E_INVALID_INPUT, std::string(what) + " is not JSON");
  return value;
}

// text as JSON when it is JSON within the depth limit; a discarded value otherwise. For stored
// text the host wrote itself, where a reader falls back to a default.
inline nlohmann::json parse_json_or_discarded(std::string_view text) {
  return sdk::try_parse_json(text);
}

// value as JSON text; strings that are not valid UTF-8 get U+FFFD for their invalid bytes.
inline std::string dump_json(const nlohmann::json& value, int indent = -1) {
  return sdk::dump_json(value, indent);
}

// The same for an ordered_json, keeping its members' order (a report's fields as it built them).
inline std::string dump_json(const nlohmann::ordered_json& value, int indent = -1) {
  return value.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace crmsync

#endif  // CRMSYNC_CORE_BASE_JSON_H
