#include "fixhost/host/external_plugin.hpp"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <sstream>

#include <utility>

#include "fixhost/events/json.hpp"
#include "fixhost/host/world/coprocess.hpp"

namespace fixhost::host {

namespace {

using nlohmann::json;

std::string shorten(std::string_view s, std::size_t n = 200) {
  if (s.size() <= n) return std::string(s);
  return std::string(s.substr(0, n)) + "...";
}

// "1.2" or {"major":1,"minor":2}.
bool read_api(const json& j, ApiVersion& api) {
  try {
    if (j.is_string()) {
      const std::string s = j.get<std::string>();
      auto dot = s.find('.');
      if (dot == std::string::npos) return false;
      api.major = static_cast<std::uint16_t>(std::stoul(s.substr(0, dot)));
      api.minor = static_cast<std::uint16_t>(std::stoul(s.substr(dot + 1)));
      return true;
    }
    if (j.is_object()) {
      api.major = j.at("major").get<std::uint16_t>();
      api.minor = j.at("minor").get<std::uint16_t>();
      return true;
    }
  } catch (const std::exception&) {
  }
  return false;
}

}  // namespace

Result<std::shared_ptr<ExternalPlugin>> ExternalPlugin::start(const std::vector<std::string>& argv,
                                                              const std::filesystem::path& cwd,
                                                              const LoaderOptions& options, ApiVersion& api) {
  auto proc = Coprocess::start(argv, cwd);
  if (!proc) return make_error(proc.status().code(), "could not be started: " + proc.status().message() +
                                                         "; check the command (an executable with a #! line)");
  std::shared_ptr<ExternalPlugin> p(new ExternalPlugin());
  p->proc_ = std::move(proc.value());
  p->event_deadline_ = options.event_deadline;
  for (const auto& a : argv) p->label_ += (p->label_.empty() ? "" : " ") + a;

  std::vector<std::string> lines;
  Status st = p->proc_->exchange("", 1, lines, options.handshake_deadline);
  auto refuse = [&](std::string why) -> Status {
    p->proc_->stop(std::chrono::milliseconds(200));
    std::string err = p->proc_->stderr_tail();
    if (!err.empty()) why += " (its stderr: " + shorten(err, 400) + ")";
    p->stopped_ = true;
    return make_error(Errc::refused, std::move(why));
  };
  if (!st.is_ok()) {
    if (st.code() == Errc::timeout)
      return refuse("sent no handshake within " + std::to_string(options.handshake_deadline.count()) +
                    " ms; its first line on stdout must be {\"fixhost_plugin\": {...}} (docs/PLUGINS.md)");
    return refuse("ended before its handshake (" + st.message() + "; it " + p->proc_->exit_description() +
                  "); its first line on stdout must be {\"fixhost_plugin\": {...}} (docs/PLUGINS.md)");
  }
  json hs = json::parse(lines.front(), nullptr, false);
  if (hs.is_discarded() || !hs.is_object() || !hs.contains("fixhost_plugin") || !hs["fixhost_plugin"].is_object())
    return refuse("sent '" + shorten(lines.front()) +
                  "' as its handshake, not {\"fixhost_plugin\": {\"name\": ..., \"version\": ..., \"api\": \"1.0\", "
                  "\"kind\": \"pure\", \"subscriptions\": [...]}}; use sdk/python/fixhost_plugin.py or sdk/node "
                  "(docs/PLUGINS.md)");
  const json& h = hs["fixhost_plugin"];
  if (!h.contains("api") || !read_api(h["api"], api))
    return refuse("declares no plugin API version in its handshake; send \"api\": \"" + options.host_api.to_string() +
                  "\"");
  const ApiVersion& host = options.host_api;
  if (api.major != host.major || api.minor > host.minor)
    return refuse("speaks plugin API " + api.to_string() + " but this host implements API " + host.to_string() + " (" +
                  (api.major != host.major ? "a different major version" : "a newer minor version") +
                  "); update the plugin's SDK to this fixhost's sdk/");
  sdk::PluginInfo& info = p->info_;
  auto str = [&](const char* key) {
    auto it = h.find(key);
    return it != h.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  info.name = str("name");
  info.version = str("version");
  info.description = str("description");
  if (info.name.empty())
    return refuse("reports an empty name in its handshake; set \"name\" to a unique name such as \"my_rules\"");
  if (info.version.empty()) info.version = "0.0.0";
  const std::string kind = str("kind");
  if (kind == "pure") info.kind = sdk::PluginKind::pure;
  else if (kind == "effectful") info.kind = sdk::PluginKind::effectful;
  else
    return refuse("('" + info.name + "') declares kind '" + kind +
                  "', which is neither pure nor effectful; set \"kind\" to \"pure\" or \"effectful\"");
  auto subs = h.find("subscriptions");
  if (subs == h.end() || !subs->is_array())
    return refuse("('" + info.name + "') lists no \"subscriptions\" (an array of event type names)");
  for (const auto& s : *subs) {
    events::EventType t = events::EventType::Reserved;
    if (s.is_string()) t = events::event_type_from_name(s.get<std::string>());
    else if (s.is_number_unsigned() && s.get<unsigned>() <= events::k_max_event_type)
      t = static_cast<events::EventType>(s.get<unsigned>());
    if (t == events::EventType::Reserved)
      return refuse("('" + info.name + "') subscribes to unknown event type " + shorten(s.dump()) +
                    "; subscribe to names from events/include/fixhost/events/event_type.hpp (e.g. "
                    "\"FailureDetected\") or upgrade fixhost");
    info.subscriptions.push_back(t);
  }
  return p;
}

ExternalPlugin::~ExternalPlugin() {
  if (proc_) proc_->stop();
}

Status ExternalPlugin::fail(const std::string& what) {
  stopped_ = true;
  std::string why = what;
  if (proc_) {
    proc_->stop(std::chrono::milliseconds(200));
    why += " (it " + proc_->exit_description();
    std::string err = proc_->stderr_tail();
    if (!err.empty()) why += "; its stderr: " + shorten(err, 400);
    why += ")";
  }
  return make_error(Errc::refused, "external plugin '" + label_ + "' " + why +
                                       "; it was stopped and gets no further events");
}

Status ExternalPlugin::configure(std::string_view toml) {
  if (stopped_) return make_error(Errc::refused, "it was stopped");
  // The table as TOML text and as JSON (a Node plugin has no TOML parser at hand).
  json settings = json::object();
  try {
    toml::table t = toml::parse(toml);
    std::stringstream ss;
    ss << toml::json_formatter{t};
    settings = json::parse(ss.str(), nullptr, false);
    if (settings.is_discarded()) settings = json::object();
  } catch (const std::exception&) {
  }
  json msg = {{"configure", {{"toml", std::string(toml)}, {"settings", settings}}}};
  std::vector<std::string> lines;
  Status st = proc_->exchange(events::dump_json(msg) + "\n", 1, lines, event_deadline_);
  if (!st.is_ok()) return fail("did not answer its configure message (" + st.message() + ")");
  json r = json::parse(lines.front(), nullptr, false);
  if (r.is_object() && r.contains("error") && r["error"].is_string()) {
    stopped_ = true;
    proc_->stop(std::chrono::milliseconds(200));
    return make_error(Errc::invalid_argument, r["error"].get<std::string>());
  }
  if (!r.is_object() || !r.contains("ok")) return fail("answered configure with '" + shorten(lines.front()) + "', not {\"ok\": true}");
  return Status::ok();
}

ExternalPlugin::Reply ExternalPlugin::parse_reply(std::uint64_t seq, const std::string& line) {
  Reply out;
  out.seq = seq;
  json r = json::parse(line, nullptr, false);
  auto garbage = [&](const std::string& why) {
    out.status = fail("answered event seq " + std::to_string(seq) + " with garbage ('" + shorten(line) + "': " + why + ")");
    return out;
  };
  if (r.is_discarded()) return garbage("not JSON");
  if (!r.is_object()) return garbage("not a JSON object");
  if (auto s = r.find("seq"); s != r.end() && (!s->is_number_unsigned() || s->get<std::uint64_t>() != seq))
    return garbage("its seq is not the event's");
  if (auto e = r.find("error"); e != r.end()) {
    out.status = make_error(Errc::internal, e->is_string() ? e->get<std::string>() : e->dump());
    return out;
  }
  auto emit = r.find("emit");
  if (emit == r.end()) return out;
  if (!emit->is_array()) return garbage("\"emit\" is not an array");
  for (const auto& item : *emit) {
    if (!item.is_object() || !item.contains("type") || !item.contains("payload"))
      return garbage("an emitted event is not {\"type\": ..., \"payload\": {...}}");
    const json& t = item["type"];
    events::EventType type = events::EventType::Reserved;
    if (t.is_string()) type = events::event_type_from_name(t.get<std::string>());
    else if (t.is_number_unsigned() && t.get<unsigned>() <= events::k_max_event_type)
      type = static_cast<events::EventType>(t.get<unsigned>());
    if (type == events::EventType::Reserved) {
      out.status = make_error(Errc::invalid_argument, "it emitted an event of unknown type " + shorten(t.dump()) +
                                                          "; use a name from event_type.hpp");
      out.emitted.clear();
      return out;
    }
    auto bytes = events::payload_from_json(type, item["payload"]);
    if (!bytes) {
      out.status = make_error(Errc::invalid_argument, "it emitted a payload that does not fit: " + bytes.status().message());
      out.emitted.clear();
      return out;
    }
    events::Event& e = out.emitted.emplace_back();
    e.type = type;
    e.schema = events::current_schema(type);
    e.payload = std::move(bytes.value());
  }
  return out;
}

Status ExternalPlugin::apply(Reply& r, sdk::Emitter& out) {
  if (!r.status.is_ok()) return r.status;
  for (auto& e : r.emitted) out.emit(e.type, e.schema, std::move(e.payload));
  return Status::ok();
}

void ExternalPlugin::prefetch(std::span<const events::Event* const> batch) {
  if (stopped_ || batch.empty()) return;
  // Made a few events at a time as the socket takes them: the plugin starts on the first ones
  // while the rest are serialised.
  std::size_t next = 0;
  auto more = [&](std::string& out) {
    if (next >= batch.size()) return false;
    for (std::size_t end = std::min(batch.size(), next + 32); next < end; ++next) {
      out += events::to_json_line(*batch[next]);
      out += '\n';
    }
    return true;
  };
  std::vector<std::string> lines;
  lines.reserve(batch.size());
  Status st = proc_->exchange(more, batch.size(), lines, event_deadline_);
  for (std::size_t i = 0; i < lines.size() && !stopped_; ++i) ready_.push_back(parse_reply(batch[i]->seq, lines[i]));
  if (!st.is_ok() && !stopped_) {
    Reply r;
    r.seq = batch[lines.size()]->seq;
    r.status = fail((st.code() == Errc::timeout ? "hung: " : "crashed: ") + st.message() + " on event seq " +
                    std::to_string(r.seq));
    ready_.push_back(std::move(r));
  }
}

Status ExternalPlugin::on_event(const events::Event& event, sdk::Emitter& out) {
  while (!ready_.empty() && ready_.front().seq < event.seq) ready_.pop_front();
  if (!ready_.empty() && ready_.front().seq == event.seq) {
    Reply r = std::move(ready_.front());
    ready_.pop_front();
    return apply(r, out);
  }
  if (stopped_) return Status::ok();
  line_ = events::to_json_line(event);
  line_ += '\n';
  std::vector<std::string> lines;
  Status st = proc_->exchange(line_, 1, lines, event_deadline_);
  if (!st.is_ok())
    return fail((st.code() == Errc::timeout ? "hung: " : "crashed: ") + st.message() + " on event seq " +
                std::to_string(event.seq));
  Reply r = parse_reply(event.seq, lines.front());
  return apply(r, out);
}

}  // namespace fixhost::host
