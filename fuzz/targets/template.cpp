// The custom connector's {{ }} templates: the first line of the input is the template, the rest a
// JSON context it renders with (when the rest is not JSON, a fixed response-like context), both as
// a plain context and as a scope whose `response` root and record members differ.
#include <nlohmann/json.hpp>

#include "harness.h"
#include "input.h"
#include "template.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  crmsync::fuzz::Input input(data, size);
  auto compiled = crmsync::custom::Template::compile(input.line());
  if (!compiled) return 0;
  nlohmann::json context = nlohmann::json::parse(input.rest(), nullptr, false);
  if (context.is_discarded()) {
    context = {{"response", {{"data", {{"id", 7}, {"total sum", 1.5}, {"items", {1, "x"}}}}}},
               {"token", "abc"}};
  }
  (void)compiled->render(context);
  const nlohmann::json record = {{"id", "R-1"}, {"name", " Name "}};
  (void)compiled->render(crmsync::custom::TemplateScope{{{"response", &context}}, &record});
  return 0;
}
