// The custom connector's JSONPath (RFC 9535) compiler and evaluator: the first line of the input
// is the query, the rest a JSON document it is evaluated on (when the rest is not JSON, a fixed
// document). I-Regexps reach the translator through match() and search() in queries.
#include <nlohmann/json.hpp>

#include "harness.h"
#include "input.h"
#include "jsonpath.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  crmsync::fuzz::Input input(data, size);
  const std::string_view query = input.line();
  auto compiled = crmsync::custom::JsonPath::compile(query);
  (void)crmsync::custom::iregexp_to_pcre2(query);
  if (!compiled) return 0;
  nlohmann::json document = nlohmann::json::parse(input.rest(), nullptr, false);
  if (document.is_discarded()) {
    document = {{"data", {{{"id", 1}, {"total", "10.50"}, {"tags", {"a", "b"}}}, {{"id", 2}}}},
                {"next", nullptr}};
  }
  (void)compiled->select(document);
  return 0;
}
