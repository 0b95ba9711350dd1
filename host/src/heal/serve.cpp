// hostctl serve: Beast HTTP server + the recorder thread that owns the store's writer.
#include <utility>  // before Asio (g++ 12 in C++20 mode)

#include "fixhost/host/heal/serve.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <unordered_set>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/host/dashboard.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/host/writer_channel.hpp"
#include "fixhost/host/world/http/body.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::heal {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// ---- the recorder: one thread, the only writer -----------------------------------------------

// An EventSink that assigns seqs as the log will (last + 1, ...) and keeps the events, so a
// whole group commit (facts and what plugins derive from them) is appended as one batch.
class BatchSink : public EventSink {
 public:
  explicit BatchSink(std::uint64_t last_seq) : next_(last_seq + 1), first_(last_seq + 1) {}
  Status append(std::span<events::Event> batch) override {
    for (auto& e : batch) {
      e.seq = next_++;
      events_.push_back(e);
    }
    return Status::ok();
  }
  std::vector<events::Event>& events() { return events_; }
  std::uint64_t first() const { return first_; }

 private:
  std::uint64_t next_, first_;
  std::vector<events::Event> events_;
};

enum class Recorded { stored, duplicate, failed };

// What an SDK event is deduplicated on: its project and event id ("" when it has none, or it
// came from a webhook or the API, which have their own).
std::string sdk_delivery_key(const events::SentryIssueIngested& f) {
  if (f.event_id.empty() || (f.via != "store" && f.via != "envelope")) return "";
  return "sdk:" + f.project + ":" + f.event_id;
}

struct Pending {
  std::vector<events::SentryIssueIngested> facts;
  std::string delivery_id;  // webhooks: deduplicated on it
  std::function<void(Recorded, const std::string&)> done;
  // A batch a local command hands over the writer channel (already derived by its own bus:
  // appended as it is, not dispatched again), with its size and its answer.
  std::vector<events::Event> command_batch;
  std::size_t command_bytes = 0;
  std::promise<Result<std::uint64_t>>* appended = nullptr;
};

// Bytes of command batches written in one turn of the recorder, after the SDK requests waiting
// (a bigger batch goes alone): what an SDK request that arrives meanwhile may wait for.
constexpr std::size_t k_command_bytes_per_turn = 4u << 20;

// Thread-safe: submit() from any thread; the recorder thread alone touches the log and the bus.
class Recorder {
 public:
  Recorder(store::EventLog& log, Bus& bus, std::string run_id, std::uint64_t run_seq)
      : log_(log), bus_(bus), run_id_(std::move(run_id)), run_seq_(run_seq) {
    bus_.observe([this](const events::Event& e) {
      if (e.type != events::EventType::IssueTriaged) return;
      if (auto t = events::decode<events::IssueTriaged>(e)) groups_.insert(t->group);
    });
  }

  // Delivery ids recorded before (so a redelivery after a restart is still a duplicate) and
  // the groups seen, read from the log at start.
  void remember(std::string delivery_id) { seen_.insert(std::move(delivery_id)); }
  void remember_group(std::string group) { groups_.insert(std::move(group)); }

  void start() { thread_ = std::thread([this] { loop(); }); }

  // From a writer-channel thread: appends a command's batch as one atomic write and returns once
  // it is durable (the first seq).
  Result<std::uint64_t> append_for_command(std::vector<events::Event>& batch) {
    std::promise<Result<std::uint64_t>> answer;
    auto future = answer.get_future();
    Pending p;
    for (const auto& e : batch) p.command_bytes += e.payload.size() + e.run_id.size() + e.source.size() + 52;
    p.command_batch = std::move(batch);
    p.appended = &answer;
    submit(std::move(p));
    return future.get();
  }

  void submit(Pending p) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(p));
    }
    cv_.notify_one();
  }

  // Records what is queued, then stops the thread.
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  std::size_t groups() const { return group_count_.load(); }
  std::uint64_t batches() const { return batches_.load(); }

 private:
  void loop() {
    while (true) {
      std::deque<Pending> work, commands;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() && stopping_) return;
        // Every SDK request waiting, then command batches up to the turn's budget, in order;
        // the rest waits for the next turn (and the SDK requests that arrive meanwhile go first).
        std::deque<Pending> later;
        std::size_t budget = k_command_bytes_per_turn;
        for (auto& p : queue_) {
          if (!p.appended) work.push_back(std::move(p));
          else if (later.empty() && (commands.empty() || p.command_bytes <= budget)) {
            budget -= std::min(budget, p.command_bytes);
            commands.push_back(std::move(p));
          } else later.push_back(std::move(p));
        }
        queue_.swap(later);
      }
      if (!work.empty()) commit(work);
      if (!commands.empty()) commit_commands(commands);
    }
  }

  void commit(std::deque<Pending>& work) {
    std::vector<events::Event> facts;
    std::vector<Recorded> verdict(work.size(), Recorded::stored);
    std::set<std::string> batch_ids;
    for (std::size_t i = 0; i < work.size(); ++i) {
      auto& p = work[i];
      if (!p.delivery_id.empty()) {
        if (seen_.count(p.delivery_id) || !batch_ids.insert(p.delivery_id).second) {
          verdict[i] = Recorded::duplicate;
          continue;
        }
      }
      for (const auto& f : p.facts) facts.push_back(events::make_event(f, run_id_, "host", run_seq_));
    }
    std::string error;
    if (!facts.empty()) {
      BatchSink sink(log_.last_seq());
      auto published = bus_.publish(std::span<events::Event>(facts), sink);
      if (!published) {
        error = published.status().to_string();
      } else {
        auto first = log_.append_batch(sink.events());
        if (!first) error = first.status().to_string();
        else if (*first != sink.first())
          error = "Internal: the store handed out seq " + std::to_string(*first) + " where " +
                  std::to_string(sink.first()) + " was expected; is another process writing it?";
      }
      batches_.fetch_add(1);
    }
    for (std::size_t i = 0; i < work.size(); ++i) {
      if (verdict[i] == Recorded::stored && error.empty() && !work[i].delivery_id.empty()) seen_.insert(work[i].delivery_id);
      if (verdict[i] == Recorded::stored && !error.empty()) verdict[i] = Recorded::failed;
      work[i].done(verdict[i], error);
    }
    group_count_.store(groups_.size());
  }

  // Each command batch is its own atomic write; one fsync for the turn, then the answers.
  void commit_commands(std::deque<Pending>& commands) {
    std::vector<Result<std::uint64_t>> firsts;
    bool wrote = false;
    for (auto& p : commands) {
      if (p.command_batch.empty()) {
        firsts.emplace_back(log_.last_seq() + 1);
        continue;
      }
      firsts.push_back(log_.append_batch(std::span<events::Event>(p.command_batch), false));
      if (firsts.back()) {
        wrote = true;
        for (const auto& e : p.command_batch)
          if (e.type == events::EventType::IssueTriaged)
            if (auto t = events::decode<events::IssueTriaged>(e)) groups_.insert(t->group);
      }
    }
    Status synced = wrote ? log_.sync() : Status::ok();
    for (std::size_t i = 0; i < commands.size(); ++i) {
      if (!synced && firsts[i]) firsts[i] = synced;
      commands[i].appended->set_value(std::move(firsts[i]));
    }
    command_batches_.fetch_add(commands.size());
    group_count_.store(groups_.size());
  }

  store::EventLog& log_;
  Bus& bus_;
  std::string run_id_;
  std::uint64_t run_seq_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::unordered_set<std::string> seen_;
  std::unordered_set<std::string> groups_;
  std::atomic<std::size_t> group_count_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> command_batches_{0};
};

// ---- metrics ---------------------------------------------------------------------------------

class Metrics {
 public:
  void count(const std::string& outcome, std::uint64_t n = 1) {
    std::lock_guard lock(mu_);
    received_[outcome] += n;
  }
  std::map<std::string, std::uint64_t> snapshot() const {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> received_;
};

struct ServerState {
  const Config& config;
  const ServeOptions& options;
  IngestLimits limits;
  store::EventLog& log;
  Recorder& recorder;
  Metrics metrics;
  std::atomic<bool> draining{false};
  std::mutex sessions_mu;
  std::map<std::uint64_t, std::function<void()>> idle_closers;  // session id -> close-if-idle
  std::atomic<std::uint64_t> next_session{1};
};

std::string metrics_text(ServerState& s) {
  // Prometheus text exposition format, version 0.0.4.
  std::string out;
  out += "# HELP fixhost_events_received_total Sentry events and webhook deliveries received, by outcome.\n";
  out += "# TYPE fixhost_events_received_total counter\n";
  for (const auto& [outcome, n] : s.metrics.snapshot())
    out += "fixhost_events_received_total{outcome=\"" + outcome + "\"} " + std::to_string(n) + "\n";
  out += "# HELP fixhost_groups Distinct error groups triaged (sentry_triage) in this store.\n";
  out += "# TYPE fixhost_groups gauge\n";
  out += "fixhost_groups " + std::to_string(s.recorder.groups()) + "\n";
  std::uint64_t heal_runs = 0, prs_opened = 0, prs_resolved = 0;
  (void)s.log.scan_type(events::EventType::RunStarted, [&](const events::Event& e) {
    if (auto r = events::decode<events::RunStarted>(e); r && r->mode == "heal") ++heal_runs;
    return true;
  });
  std::set<std::uint64_t> open;
  (void)s.log.scan_type(events::EventType::PrOpened, [&](const events::Event& e) {
    if (auto r = events::decode<events::PrOpened>(e)) open.insert(r->number), ++prs_opened;
    return true;
  });
  (void)s.log.scan_type(events::EventType::PrResolved, [&](const events::Event& e) {
    if (auto r = events::decode<events::PrResolved>(e)) open.erase(r->number), ++prs_resolved;
    return true;
  });
  out += "# HELP fixhost_heal_runs_total hostctl heal runs recorded in this store.\n";
  out += "# TYPE fixhost_heal_runs_total counter\n";
  out += "fixhost_heal_runs_total " + std::to_string(heal_runs) + "\n";
  out += "# HELP fixhost_prs_open Pull requests opened by fixhost and not yet merged or closed.\n";
  out += "# TYPE fixhost_prs_open gauge\n";
  out += "fixhost_prs_open " + std::to_string(open.size()) + "\n";
  out += "# HELP fixhost_commit_batches_total Group commits (durable appends) made by serve.\n";
  out += "# TYPE fixhost_commit_batches_total counter\n";
  out += "fixhost_commit_batches_total " + std::to_string(s.recorder.batches()) + "\n";
  return out;
}

// ---- one connection --------------------------------------------------------------------------

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

std::string json_detail(const std::string& detail) {
  nlohmann::json j;
  j["detail"] = detail;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerState& state) : stream_(std::move(socket)), state_(state) {}

  void run() {
    id_ = state_.next_session.fetch_add(1);
    {
      std::lock_guard lock(state_.sessions_mu);
      state_.idle_closers[id_] = [weak = weak_from_this()] {
        if (auto self = weak.lock())
          net::post(self->stream_.get_executor(), [self] {
            if (!self->busy_) self->close();
          });
      };
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  ~Session() {
    std::lock_guard lock(state_.sessions_mu);
    state_.idle_closers.erase(id_);
  }

 private:
  void read() {
    if (state_.draining) return close();
    parser_.emplace();
    parser_->body_limit(state_.limits.max_request_bytes);
    stream_.expires_after(std::chrono::seconds(30));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::bad_descriptor)
      return close();
    busy_ = true;
    if (ec == bhttp::error::body_limit) {
      state_.metrics.count("too_large");
      keep_alive_ = false;
      return answer(413, json_detail("request body is over the limit of " + std::to_string(state_.limits.max_request_bytes) +
                                     " bytes ([heal] max_request_bytes)"));
    }
    if (ec) {
      state_.metrics.count("invalid");
      keep_alive_ = false;
      return answer(400, json_detail("malformed HTTP request: " + ec.message()));
    }
    req_ = parser_->release();
    keep_alive_ = req_.keep_alive();
    route();
  }

  void route() {
    const std::string target(req_.target());
    const std::string path = target.substr(0, target.find('?'));
    if (path == "/healthz") {
      if (req_.method() != bhttp::verb::get && req_.method() != bhttp::verb::head) return answer(405, json_detail("use GET"));
      return answer(200, state_.draining ? R"({"status":"draining"})" : R"({"status":"ok"})");
    }
    if (path == "/" || path == "/dashboard.json") {  // the dashboard (docs/STATS.md#the-dashboard)
      if (req_.method() != bhttp::verb::get) return answer(405, json_detail("use GET"));
      auto data = dashboard_data(state_.log, StatsQuery{});
      if (!data) return answer(500, json_detail("could not compute the dashboard: " + data.status().to_string()));
      if (path == "/dashboard.json")
        return answer(200, data->dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      DashboardHtmlOptions ho;
      ho.poll_url = "/dashboard.json";
      return answer(200, dashboard_html(*data, ho), "text/html; charset=utf-8");
    }
    if (path == "/metrics") {
      if (req_.method() != bhttp::verb::get) return answer(405, json_detail("use GET"));
      return answer(200, metrics_text(state_), "text/plain; version=0.0.4; charset=utf-8");
    }
    if (path == "/webhooks/sentry" || path == "/webhooks/sentry/") {
      if (req_.method() != bhttp::verb::post) return answer(405, json_detail("use POST"));
      return webhook();
    }
    // /api/<project>/store/ and /api/<project>/envelope/
    if (path.rfind("/api/", 0) == 0) {
      std::string rest = path.substr(5);
      auto slash = rest.find('/');
      std::string project = rest.substr(0, slash);
      std::string endpoint = slash == std::string::npos ? "" : rest.substr(slash + 1);
      if (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
      const bool numeric = !project.empty() && project.find_first_not_of("0123456789") == std::string::npos;
      if (numeric && (endpoint == "store" || endpoint == "envelope")) {
        if (req_.method() != bhttp::verb::post) return answer(405, json_detail("use POST"));
        return ingest(project, endpoint == "envelope");
      }
    }
    state_.metrics.count("not_found");
    return answer(404, json_detail("no such endpoint '" + path +
                                   "'; fixhost serves /api/<project>/store/, /api/<project>/envelope/, "
                                   "/webhooks/sentry, /healthz, /metrics, / (the dashboard) and /dashboard.json"));
  }

  bool key_accepted(const std::string& key) const {
    const auto& keys = state_.config.heal.ingest_keys;
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  }

  void ingest(const std::string& project, bool envelope) {
    std::string key;
    if (auto h = req_.find("X-Sentry-Auth"); h != req_.end()) key = sentry_key_from_auth(std::string(h->value()));
    if (key.empty())
      if (auto h = req_.find(bhttp::field::authorization); h != req_.end()) key = sentry_key_from_auth(std::string(h->value()));
    if (key.empty()) key = sentry_key_from_query(std::string(req_.target()));
    if (!key.empty() && !key_accepted(key)) {
      state_.metrics.count("unauthorized");
      return answer(401, json_detail("sentry_key '" + key + "' is not one of [heal] ingest_keys in fixhost.toml"));
    }
    if (key.empty() && !envelope) {
      state_.metrics.count("unauthorized");
      return answer(401, json_detail("no sentry_key: send X-Sentry-Auth: Sentry sentry_key=<key>, or ?sentry_key=<key>"));
    }
    const std::string encoding = req_.count(bhttp::field::content_encoding)
                                     ? std::string(req_[bhttp::field::content_encoding])
                                     : std::string();
    const std::size_t limit = envelope ? state_.limits.max_request_bytes : state_.limits.max_event_bytes;
    auto body = http::decode_body(encoding, req_.body(), limit);
    if (body.error == http::BodyError::too_large) {
      state_.metrics.count("too_large");
      return answer(413, json_detail(body.detail));
    }
    if (body.error != http::BodyError::none) {
      state_.metrics.count("invalid");
      return answer(body.error == http::BodyError::unsupported ? 415 : 400, json_detail(body.detail));
    }
    IngestOutcome out = envelope ? read_envelope(project, body.data, state_.limits) : read_store(project, body.data, state_.limits);
    if (out.status != 200) {
      state_.metrics.count(out.status == 413 ? "too_large" : "invalid");
      return answer(out.status, json_detail(out.detail));
    }
    if (key.empty()) {
      if (out.dsn_key.empty() || !key_accepted(out.dsn_key)) {
        state_.metrics.count("unauthorized");
        return answer(401, json_detail(out.dsn_key.empty()
                                           ? "no sentry_key: send X-Sentry-Auth, ?sentry_key= or the envelope header's dsn"
                                           : "the envelope's dsn key '" + out.dsn_key + "' is not one of [heal] ingest_keys"));
      }
    }
    if (out.skipped) state_.metrics.count("skipped", out.skipped);
    const std::string answer_body = nlohmann::json{{"id", out.event_id}}.dump();
    // An SDK resends an event whose answer it did not read (a connection closed under it, a
    // timeout): recorded once, as Sentry does, by its event id.
    std::string dedupe = out.events.size() == 1 ? sdk_delivery_key(out.events[0]) : "";
    record(std::move(out.events), std::move(dedupe), answer_body, answer_body);
  }

  void webhook() {
    auto header = [&](const char* name) {
      auto h = req_.find(name);
      return h == req_.end() ? std::string() : std::string(h->value());
    };
    const std::string& body = req_.body();
    if (auto why = check_webhook_signature(state_.options.client_secret, body, header("Sentry-Hook-Signature")); !why.empty()) {
      state_.metrics.count("forged");
      return answer(401, json_detail(why));
    }
    const double now_s = static_cast<double>(events::now_us()) / 1e6;
    if (auto why = check_webhook_timestamp(header("Sentry-Hook-Timestamp"), now_s,
                                           static_cast<double>(state_.config.heal.webhook_tolerance.count()));
        !why.empty()) {
      state_.metrics.count("stale");
      return answer(401, json_detail(why));
    }
    const std::string resource = header("Sentry-Hook-Resource");
    IngestOutcome out = read_webhook(resource, body, header("Request-ID"), state_.limits);
    if (out.status != 200) {
      state_.metrics.count(out.status == 413 ? "too_large" : "invalid");
      return answer(out.status, json_detail(out.detail));
    }
    if (out.events.empty()) {
      state_.metrics.count("ignored");
      return answer(200, json_detail("resource '" + resource + "' carries no error; nothing recorded"));
    }
    record(std::move(out.events), header("Request-ID"), R"({"detail":"recorded"})");
  }

  void record(std::vector<events::SentryIssueIngested> facts, std::string delivery_id, std::string ok_body,
              std::string duplicate_body = json_detail("duplicate delivery (Request-ID seen before); not recorded again")) {
    const std::size_t n = facts.size();
    if (n == 0) {
      return answer(200, ok_body);
    }
    Pending p;
    p.facts = std::move(facts);
    p.delivery_id = std::move(delivery_id);
    p.done = [self = shared_from_this(), n, ok_body = std::move(ok_body), duplicate_body = std::move(duplicate_body)](
                 Recorded r, const std::string& error) {
      net::post(self->stream_.get_executor(), [self, n, ok_body, duplicate_body, r, error] {
        if (r == Recorded::stored) {
          self->state_.metrics.count("accepted", n);
          self->answer(200, ok_body);
        } else if (r == Recorded::duplicate) {
          self->state_.metrics.count("duplicate");
          self->answer(200, duplicate_body);
        } else {
          self->state_.metrics.count("error", n);
          spdlog::error("could not record {} event(s): {}", n, error);
          self->answer(500, json_detail("could not record the event: " + error));
        }
      });
    };
    state_.recorder.submit(std::move(p));
  }

  void answer(unsigned status, std::string body, const char* content_type = "application/json") {
    auto res = std::make_shared<Response>(static_cast<bhttp::status>(status), 11);
    res->set(bhttp::field::server, "fixhost");
    res->set(bhttp::field::content_type, content_type);
    res->keep_alive(keep_alive_ && !state_.draining);
    if (status == 429 || status == 503) res->set(bhttp::field::retry_after, "1");
    res->body() = std::move(body);
    res->prepare_payload();
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      self->busy_ = false;
      if (ec) return self->close();
      if (!res->keep_alive()) return self->linger();
      self->read();
    });
  }

  // Closes after the client has read the answer: shut down sending, then discard what the client
  // still sends (the rest of a refused body) until it closes, for at most 2 s. Closing at once
  // would reset the connection and could destroy the answer before the client read it.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    stream_.expires_after(std::chrono::seconds(2));
    drain_.resize(64 * 1024);
    stream_.async_read_some(net::buffer(drain_), [self = shared_from_this()](beast::error_code rec, std::size_t) {
      if (rec) return self->close();
      self->linger_more();
    });
  }
  void linger_more() {
    stream_.async_read_some(net::buffer(drain_), [self = shared_from_this()](beast::error_code rec, std::size_t) {
      if (rec) return self->close();
      self->linger_more();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  ServerState& state_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request req_;
  bool keep_alive_ = true;
  bool busy_ = false;
  std::vector<char> drain_;
  std::uint64_t id_ = 0;
};

Result<tcp::endpoint> parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  auto bad = [&] {
    return make_error(Errc::invalid_argument,
                      "listen address '" + listen + "' is not ADDR:PORT; write e.g. 127.0.0.1:8765 (--listen or [heal] listen)");
  };
  if (colon == std::string::npos) return bad();
  std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) return bad();
  boost::system::error_code ec;
  auto addr = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return bad();
  unsigned long p = std::stoul(port);
  if (p > 65535) return bad();
  return tcp::endpoint(addr, static_cast<unsigned short>(p));
}

void accept_loop(tcp::acceptor& acceptor, ServerState& state) {
  acceptor.async_accept(net::make_strand(acceptor.get_executor()), [&acceptor, &state](beast::error_code ec, tcp::socket s) {
    if (ec) {
      if (ec != net::error::operation_aborted && acceptor.is_open()) {
        spdlog::warn("accept failed: {}", ec.message());
        accept_loop(acceptor, state);
      }
      return;
    }
    std::make_shared<Session>(std::move(s), state)->run();
    if (!state.draining) accept_loop(acceptor, state);
  });
}

}  // namespace

Status serve(const Config& config, const ServeOptions& options) {
  auto endpoint = parse_listen(options.listen.empty() ? config.heal.listen : options.listen);
  if (!endpoint) return endpoint.status();
  if (config.heal.ingest_keys.empty())
    spdlog::warn("[heal] ingest_keys is empty in fixhost.toml: every SDK request will be refused (401)");

  store::StoreOptions so;
  so.holder = "hostctl serve";
  so.projections.push_back(stats_projection());
  auto opened = store::EventLog::open(options.store_dir, so);
  if (!opened) return opened.status();
  std::unique_ptr<store::EventLog> log = std::move(*opened);
  LoadReport plugins = load_configured_plugins(config, options.extra_plugin_dirs);
  for (const auto& r : plugins.refused) spdlog::warn("plugin refused: {}", r.reason);
  auto bus = std::make_unique<Bus>();
  bus->add(plugins.loaded);
  if (!bus->has_subscribers(events::EventType::SentryIssueIngested))
    spdlog::warn("no plugin triages SentryIssueIngested (is sentry_triage built?): events are recorded, not triaged");

  // Delivery ids and groups already in the log.
  const std::string run_id = new_run_id();
  std::unordered_set<std::string> delivered;
  std::unordered_set<std::string> groups;
  (void)log->scan_type(events::EventType::SentryIssueIngested, [&](const events::Event& e) {
    auto p = events::decode<events::SentryIssueIngested>(e);
    if (!p) return true;
    if (!p->delivery_id.empty()) delivered.insert(p->delivery_id);
    if (auto k = sdk_delivery_key(*p); !k.empty()) delivered.insert(std::move(k));
    return true;
  });
  (void)log->scan_type(events::EventType::IssueTriaged, [&](const events::Event& e) {
    if (auto p = events::decode<events::IssueTriaged>(e)) groups.insert(p->group);
    return true;
  });

  events::RunStarted rs;
  rs.mode = "serve";
  rs.repo = config.repo.string();
  rs.argv = options.argv;
  rs.config = config.text;
  rs.host_version = FIXHOST_VERSION;
  auto started = events::make_event(rs, run_id);
  LogSink sink(*log);
  if (auto r = bus->publish(std::span<events::Event>(&started, 1), sink); !r) return r.status();
  const std::int64_t started_us = events::now_us();

  Recorder recorder(*log, *bus, run_id, started.seq);
  for (auto& d : delivered) recorder.remember(d);
  for (auto& g : groups) recorder.remember_group(g);
  recorder.start();
  // The writer channel: local commands (heal, autofix, ...) record through the recorder.
  std::unique_ptr<WriterChannelServer> channel;
  if (auto ch = WriterChannelServer::listen(options.store_dir,
                                            [&](std::vector<events::Event>& b) { return recorder.append_for_command(b); }))
    channel = std::move(*ch);
  else
    spdlog::warn("serve: {}; other commands that write this store get Busy while serve runs", ch.status().to_string());

  ServerState state{config, options, IngestLimits{config.heal.max_event_bytes, config.heal.max_request_bytes}, *log,
                    recorder};
  const int threads = std::max(1, options.threads);
  net::io_context ioc(threads);
  tcp::acceptor acceptor(ioc);
  boost::system::error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  Status result;
  if (ec) {
    result = make_error(Errc::io_error, "cannot listen on " + endpoint->address().to_string() + ":" +
                                            std::to_string(endpoint->port()) + ": " + ec.message() +
                                            "; pick another with --listen ADDR:PORT");
  } else {
    auto local = acceptor.local_endpoint();
    const std::string url = "http://" + local.address().to_string() + ":" + std::to_string(local.port());
    spdlog::info("serve: listening on {} (store {}, run {})", url, options.store_dir.string(), run_id);
    if (options.on_listening) options.on_listening(url);

    net::signal_set signals(ioc, SIGINT, SIGTERM);
    net::steady_timer drain_timer(ioc);
    signals.async_wait([&](beast::error_code sec, int signo) {
      if (sec) return;
      spdlog::info("serve: signal {}: draining (no new connections; requests in flight are answered)", signo);
      state.draining = true;
      acceptor.close();
      std::vector<std::function<void()>> closers;
      {
        std::lock_guard lock(state.sessions_mu);
        for (auto& [id, c] : state.idle_closers) closers.push_back(c);
      }
      for (auto& c : closers) c();
      drain_timer.expires_after(options.drain_timeout);
      drain_timer.async_wait([&](beast::error_code tec) {
        if (tec) return;
        spdlog::warn("serve: requests still in flight after {} ms; stopping", options.drain_timeout.count());
        ioc.stop();
      });
    });
    accept_loop(acceptor, state);
    // The drain timer must not keep the loop alive once everything else is done.
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
    std::thread watcher([&] {
      // Once draining and no session is left, cancel the timer so run() returns.
      while (!ioc.stopped()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!state.draining) continue;
        std::lock_guard lock(state.sessions_mu);
        if (state.idle_closers.empty()) {
          net::post(ioc, [&] {
            drain_timer.cancel();
            signals.cancel();
          });
          break;
        }
      }
    });
    ioc.run();
    for (auto& t : pool) t.join();
    watcher.join();
  }
  if (channel) channel->stop();  // answers the appends in flight (the recorder still runs), then closes
  recorder.stop();

  events::RunFinished fin;
  fin.outcome = result ? "ok" : "error";
  fin.exit_code = result ? 0 : 2;
  auto m = state.metrics.snapshot();
  fin.summary = "serve: " + std::to_string(m["accepted"]) + " events recorded, " + std::to_string(m["duplicate"]) +
                " duplicate deliveries, " + std::to_string(m["unauthorized"] + m["forged"] + m["stale"]) + " refused";
  if (!result) fin.summary = result.message();
  fin.duration_ms = (events::now_us() - started_us) / 1000;
  auto finished = events::make_event(fin, run_id, "host", started.seq);
  if (auto r = bus->publish(std::span<events::Event>(&finished, 1), sink); !r) {
    spdlog::error("could not record the end of serve run {}: {}", run_id, r.status().to_string());
  }
  bus.reset();
  plugins.loaded.clear();
  return result;
}

}  // namespace fixhost::host::heal
