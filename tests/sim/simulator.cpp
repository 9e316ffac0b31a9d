// The CRM simulator's core: provider dispatch, faults, clock, counters and the admin API.
#include "simulator.h"

#include "http/client.h"

#include <curl/curl.h>
#include <date/date.h>

#include <algorithm>

namespace crmsync::sim {

using std::chrono::steady_clock;

namespace {

std::string percent_decode(std::string_view text) {
  std::string plus_as_space(text);
  std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
  int length = 0;
  char* decoded = curl_easy_unescape(nullptr, plus_as_space.c_str(),
                                     static_cast<int>(plus_as_space.size()), &length);
  std::string out(decoded, static_cast<size_t>(length));
  curl_free(decoded);
  return out;
}

void split_target(SimRequest& request) {
  const std::string& target = request.target;
  const size_t q = target.find('?');
  request.path = target.substr(0, q);
  if (q == std::string::npos) return;
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const size_t eq = pair.find('=');
    request.query[percent_decode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
  }
}

Reply admin_error(int status, const std::string& message) {
  return Reply::json(status, {{"error", message}});
}

// An HTTP-date (IMF-fixdate) for Retry-After.
std::string http_date(std::chrono::system_clock::time_point t) {
  return date::format("%a, %d %b %Y %H:%M:%S GMT", std::chrono::floor<std::chrono::seconds>(t));
}

}  // namespace

Simulator::Simulator(std::vector<std::unique_ptr<Provider>> providers, DataOptions options,
                     bool realtime)
    : providers_(std::move(providers)),
      options_(options),
      realtime_(realtime),
      started_(steady_clock::now()),
      generated_until_(options.start),
      fault_rng_(mix_seed(options.seed, 0xfa017)) {
  for (auto& provider : providers_) {
    provider->generate(options_);
    provider->routes(routes_[provider->name()]);
  }
}

void Simulator::on_connection() {
  std::lock_guard lock(mutex_);
  ++connections_;
}

void Simulator::add_fault(Fault fault) {
  std::lock_guard lock(mutex_);
  faults_.add(std::move(fault));
}

SimTime Simulator::now() const {
  SimTime t = options_.start + advanced_;
  if (realtime_) t += std::chrono::floor<std::chrono::seconds>(steady_clock::now() - started_);
  return t;
}

void Simulator::catch_up() {
  const SimTime t = now();
  if (t <= generated_until_) return;
  for (auto& provider : providers_) provider->advance(generated_until_, t);
  generated_until_ = t;
}

Provider* Simulator::find(const std::string& name) {
  for (auto& provider : providers_) {
    if (provider->name() == name) return provider.get();
  }
  return nullptr;
}

void Simulator::reset() {
  faults_.clear();
  counters_.clear();
  connections_ = 0;
  webhooks_sent_ = 0;
  advanced_ = std::chrono::seconds(0);
  started_ = steady_clock::now();
  generated_until_ = options_.start;
  fault_rng_ = Rng(mix_seed(options_.seed, 0xfa017));
  for (auto& provider : providers_) provider->generate(options_);
}

Reply Simulator::handle(SimRequest request) {
  const auto arrived = steady_clock::now();
  split_target(request);
  if (request.path.starts_with("/_admin/")) {
    try {
      return admin(request);
    } catch (const nlohmann::json::exception& e) {
      return admin_error(400, std::string("bad JSON field: ") + e.what());
    }
  }

  const size_t slash = request.path.find('/', 1);
  const std::string name =
      request.path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  std::lock_guard lock(mutex_);
  Provider* provider = find(name);
  if (!provider) return admin_error(404, "no simulated provider '" + name + "'");
  request.path = slash == std::string::npos ? "/" : request.path.substr(slash);
  catch_up();
  const auto route = routes_[name].match(request.method, request.path, request.params);
  Reply reply;
  try {
    reply = route ? dispatch(*provider, request, *route->endpoint, *route->handler)
                  : provider->error(404, "Not found");
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong JSON type in a request body.
    reply = provider->error(400, std::string("Неверный формат запроса: ") + e.what());
  }
  count(name, request, route ? *route->endpoint : "unknown",
        reply.action == Reply::Action::respond ? reply.status : 0, arrived);
  return reply;
}

Reply Simulator::dispatch(Provider& provider, SimRequest& request, const std::string& endpoint,
                          const Handler& handler) {
  const auto fault = faults_.pick(provider.name(), endpoint, fault_rng_);
  if (!fault) return handler(request);
  Reply reply;
  switch (fault->kind) {
    case FaultKind::reset:
      reply.action = Reply::Action::reset;
      return reply;
    case FaultKind::timeout:
      reply.action = Reply::Action::hang;
      reply.delay = std::chrono::milliseconds(fault->delay_ms);
      return reply;
    case FaultKind::http_500:
      return provider.error(500, "Internal server error (injected)");
    case FaultKind::http_429:
      reply = provider.error(429, "Too many requests (injected)");
      reply.headers.emplace_back("Retry-After",
                                 fault->retry_after_date
                                     ? http_date(std::chrono::system_clock::now() +
                                                 std::chrono::seconds(fault->retry_after_s))
                                     : std::to_string(fault->retry_after_s));
      return reply;
    case FaultKind::expired_token:
      return provider.error(401, "Token expired (injected)");
    case FaultKind::invalid_json:
      reply.content_type = "text/html; charset=utf-8";
      reply.body = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
      return reply;
    case FaultKind::empty_page:
      request.empty_page = true;
      return handler(request);
    case FaultKind::repeat_page:
      request.repeat_page = true;
      return handler(request);
    case FaultKind::slow:
      reply = handler(request);
      reply.delay = std::chrono::milliseconds(fault->delay_ms);
      return reply;
    case FaultKind::truncated:
      reply = handler(request);
      reply.body.resize(reply.body.size() / 2);
      return reply;
  }
  return handler(request);
}

void Simulator::count(const std::string& provider, const SimRequest& request,
                      const std::string& endpoint, int status, steady_clock::time_point at) {
  Counters& c = counters_[provider];
  ++c.requests;
  ++c.endpoints[endpoint];
  ++c.statuses[status];
  c.last_second.push_back(at);
  while (!c.last_second.empty() && c.last_second.front() <= at - std::chrono::seconds(1)) {
    c.last_second.pop_front();
  }
  c.max_per_second = std::max(c.max_per_second, c.last_second.size());
  const auto t_ms = std::chrono::duration_cast<std::chrono::milliseconds>(at - started_).count();
  c.recent.push_back({t_ms, request.method, request.target, endpoint, status});
  if (c.recent.size() > kRecent) c.recent.pop_front();
}

Json Simulator::counters_json() const {
  Json providers = Json::object();
  for (const auto& [name, c] : counters_) {
    Json statuses = Json::object();
    for (const auto& [status, n] : c.statuses) statuses[std::to_string(status)] = n;
    providers[name] = {{"requests", c.requests},
                       {"endpoints", c.endpoints},
                       {"statuses", statuses},
                       {"max_requests_per_second", c.max_per_second}};
  }
  return {
      {"connections", connections_}, {"webhooks_sent", webhooks_sent_}, {"providers", providers}};
}

Reply Simulator::admin(const SimRequest& request) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  Json body;
  if (!request.body.empty()) {
    body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded()) return admin_error(400, "the request body is not JSON");
  }
  if (path == "/_admin/health" && method == "GET") return Reply::json(200, {{"ok", true}});

  std::unique_lock lock(mutex_);
  catch_up();
  if (path == "/_admin/counters" && method == "GET") return Reply::json(200, counters_json());
  if (path == "/_admin/requests" && method == "GET") {
    const auto it = request.query.find("provider");
    if (it == request.query.end()) return admin_error(400, "give ?provider=NAME");
    const auto limit = request.int_param("limit", kRecent);
    if (!limit) return admin_error(400, "limit must be a positive integer");
    Json out = Json::array();
    const auto& recent = counters_[it->second].recent;
    const size_t skip = recent.size() > static_cast<size_t>(*limit)
                            ? recent.size() - static_cast<size_t>(*limit)
                            : 0;
    for (size_t i = skip; i < recent.size(); ++i) {
      const auto& e = recent[i];
      out.push_back({{"t_ms", e.t_ms},
                     {"method", e.method},
                     {"target", e.target},
                     {"endpoint", e.endpoint},
                     {"status", e.status}});
    }
    return Reply::json(200, out);
  }
  if (path == "/_admin/faults") {
    if (method == "GET") return Reply::json(200, faults_.list());
    if (method == "DELETE") {
      faults_.clear();
      return Reply::json(200, {{"ok", true}});
    }
    if (method == "POST") {
      Json ids = Json::array();
      for (const auto& item : body.is_array() ? body : Json::array({body})) {
        auto fault = fault_from_json(item);
        if (!fault) return admin_error(400, fault.error().message);
        ids.push_back(faults_.add(std::move(fault.value())));
      }
      return Reply::json(200, {{"ids", ids}});
    }
  }
  if (path == "/_admin/clock" && method == "GET") {
    return Reply::json(200, {{"now", date::format("%FT%TZ", now())},
                             {"start", date::format("%FT%TZ", options_.start)},
                             {"advanced_seconds", advanced_.count()},
                             {"realtime", realtime_}});
  }
  if (path == "/_admin/clock/advance" && method == "POST") {
    if (!body.is_object() || !body.contains("seconds") || !body["seconds"].is_number_integer() ||
        body["seconds"].get<int64_t>() < 0) {
      return admin_error(400, "give {\"seconds\": N} with N >= 0");
    }
    advanced_ += std::chrono::seconds(body["seconds"].get<int64_t>());
    catch_up();
    return Reply::json(200, {{"now", date::format("%FT%TZ", now())}});
  }
  if (path == "/_admin/reset" && method == "POST") {
    reset();
    return Reply::json(200, {{"ok", true}});
  }
  if ((path == "/_admin/records" && method == "POST") ||
      (path == "/_admin/webhook" && method == "POST") ||
      (path == "/_admin/state" && method == "GET")) {
    const std::string name =
        method == "GET"
            ? (request.query.count("provider") ? request.query.at("provider") : std::string())
            : (body.is_object() ? body.value("provider", "") : "");
    Provider* provider = find(name);
    if (!provider) return admin_error(400, "unknown or missing provider '" + name + "'");
    if (path == "/_admin/state") return Reply::json(200, provider->state());
    if (path == "/_admin/records") {
      auto added = provider->add_records(body, now());
      return added ? Reply::json(200, added.value()) : admin_error(400, added.error().message);
    }
    // Webhook: build the payload under the lock, post it without (the target may be us).
    if (!body.contains("url") || !body["url"].is_string()) {
      return admin_error(400, "give the webhook \"url\"");
    }
    auto payload = provider->webhook_payload(body);
    if (!payload) return admin_error(400, payload.error().message);
    ++webhooks_sent_;
    lock.unlock();
    http::ClientOptions options;
    options.integration = "crmsim-webhook";
    auto client = http::Client::create(options);
    if (!client) return admin_error(500, client.error().message);
    http::Request post;
    post.method = "POST";
    post.url = body["url"].get<std::string>();
    const Json& wire = payload.value();
    if (wire.is_object() && wire.contains("content_type") && wire["content_type"].is_string() &&
        wire.contains("body") && wire["body"].is_string()) {
      // A body that is not JSON (amoCRM's forms), or sent with the provider's own headers.
      post.headers = {{"Content-Type", wire["content_type"].get<std::string>()}};
      if (wire.contains("headers") && wire["headers"].is_object()) {
        for (const auto& [name, value] : wire["headers"].items()) {
          if (value.is_string()) post.headers.push_back({name, value.get<std::string>()});
        }
      }
      post.body = wire["body"].get<std::string>();
    } else {
      post.headers = {{"Content-Type", "application/json"}};
      post.body = wire.dump();
    }
    post.timeout = std::chrono::milliseconds(5000);
    post.no_retry = true;
    auto sent = client.value()->send(post);
    if (!sent) return admin_error(502, sent.error().message);
    return Reply::json(
        200, {{"status", sent->status}, {"response", sent->body}, {"payload", payload.value()}});
  }
  return admin_error(404, "no admin endpoint " + method + " " + path);
}

}  // namespace crmsync::sim
