// Each connector's response and webhook mapping, the path of `crmsync parse`: the connector .so
// loaded by the real plugin host, an instance opened with settings its schema accepts, and the
// sandbox's map_sample / map_webhook (the pipeline's normalization included) on the input. The
// first byte picks the connector (kConnectors) and what the rest is: an API response, or a webhook
// body sent as JSON, as a form or as XML. Nothing reaches the network (DefaultHostServices).
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "input.h"
#include "plugin_host/plugin_host.h"
#include "sandbox/sandbox.h"

namespace {

using namespace crmsync;

struct Setup {
  const char* connector;
  const char* settings;
};

constexpr std::array<Setup, 7> kConnectors = {{
    {"amocrm", R"({"subdomain":"stimcentr","client_id":"stim-client",)"
               R"("redirect_uri":"https://crm.example.com/oauth/amocrm"})"},
    {"iiko", "{}"},
    {"1c", R"({"mode":"odata","base_url":"http://1c.example/base"})"},
    {"renovatio", R"({"clinic_id":1})"},
    {"yclients", R"({"company_id":4564})"},
    {"custom",
     R"({"name":"Orders API","request":{"url":"http://crm.example/api"},"records":"$.data[*]",)"
     R"("mapping":{"external_id":"$.id","amount":"$.total","occurred_at":"$.created_at",)"
     R"("customer_phone":"$.client.phone","description":"{{ name | default(\"sale\") }}",)"
     R"("filter":{"source":"$.status","equals":"paid"}}})"},
    {"custom",
     R"({"name":"Warehouse CRM","request":{"url":"http://crm.example/api"},"format":"xml",)"
     R"("records":"/response/orders/order","mapping":{"external_id":"@id","amount":"total",)"
     R"("occurred_at":"created","customer_phone":"client/phone",)"
     R"("filter":{"source":"status","equals":"paid"}}})"},
}};

constexpr std::array<const char*, 3> kWebhookTypes = {
    "application/json", "application/x-www-form-urlencoded", "application/xml"};

struct World {
  plugin_host::PluginHost host;
  plugin_host::DefaultHostServices services;
  std::vector<std::unique_ptr<plugin_host::Instance>> instances;
  std::vector<pipeline::Target> targets;
};

World* world = nullptr;

[[noreturn]] void fail_setup(const std::string& what) {
  std::fprintf(stderr, "connector_parse set-up: %s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  world = new World;
  for (const Setup& setup : kConnectors) {
    if (!world->host.find(setup.connector)) {
      const auto loaded =
          world->host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/" + setup.connector + ".so");
      if (!loaded.ok()) fail_setup(loaded.error);
    }
    auto target = sandbox::trial_target(setup.connector, "Europe/Moscow", "RU", "RUB");
    if (!target) fail_setup(target.error().message);
    auto instance = world->host.open_instance(setup.connector, "fuzz", setup.settings,
                                              "Europe/Moscow", "RUB", world->services);
    if (!instance) fail_setup(std::string(setup.connector) + ": " + instance.error().message);
    world->instances.push_back(std::move(*instance));
    world->targets.push_back(std::move(*target));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input input(data, size);
  const uint8_t selector = input.byte();
  const size_t which = selector % kConnectors.size();
  const size_t kind = selector / kConnectors.size() % (1 + kWebhookTypes.size());
  plugin_host::Instance& instance = *world->instances[which];
  const pipeline::Target& target = world->targets[which];
  if (kind == 0) {
    (void)sandbox::map_sample(instance, target, input.rest());
  } else {
    plugin_host::WebhookRequest request;
    request.content_type = kWebhookTypes[kind - 1];
    request.body = input.rest();
    (void)sandbox::map_webhook(instance, target, request);
  }
  return 0;
}
