// The cluster forwarder (local log -> FIXHOST_EVENTS) and the view cache (FIXHOST_EVENTS -> a
// local store). An adapter at the edge: it moves recorded events, it never derives any.
#include "fixhost/host/cluster.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/host/world/jetstream.hpp"
#include "nats_options.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool valid_host_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

// Writes `text` to `path` through a temporary file, fsynced, then renamed over it.
Status write_atomic(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return make_error(Errc::io_error, "cannot write '" + tmp.string() + "'");
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  std::error_code ec;
  if (ok) fs::rename(tmp, path, ec);
  if (!ok || ec) return make_error(Errc::io_error, "cannot write '" + path.string() + "'");
  return Status::ok();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Status write_forwarder_state(const fs::path& store_dir, const ForwarderState& st) {
  json j{{"host_id", st.host_id},       {"acked_seq", st.acked_seq},   {"updated_us", st.updated_us},
         {"last_error", st.last_error}, {"last_error_us", st.last_error_us}};
  std::error_code ec;
  fs::create_directories(cluster_dir(store_dir), ec);
  return write_atomic(cluster_dir(store_dir) / "forwarder.json", j.dump(2) + "\n");
}

std::string subject_prefix() { return "fixhost.events"; }

}  // namespace

fs::path cluster_dir(const fs::path& store_dir) {
  fs::path d = store_dir.lexically_normal();
  if (d.filename().empty()) d = d.parent_path();
  d += "-cluster";
  return d;
}

Result<ClusterConfig> load_cluster_config(const fs::path& repo) {
  ClusterConfig c;
  const fs::path file = repo / "fixhost.toml";
  std::error_code ec;
  if (!repo.empty() && fs::exists(file, ec)) {
    toml::table t;
    try {
      t = toml::parse_file(file.string());
    } catch (const toml::parse_error& e) {
      return make_error(Errc::invalid_argument, file.string() + ": " + std::string(e.description()));
    }
    if (auto n = t.get("cluster")) {
      const toml::table* ct = n->as_table();
      const std::string where = file.string() + ": [cluster]";
      if (!ct) return make_error(Errc::invalid_argument, where + " must be a table: [cluster] url = \"nats://host:4222\"");
      for (const auto& [k, v] : *ct) {
        const std::string key(k.str());
        if (key == "url" || key == "stream" || key == "host_id") {
          auto s = v.value<std::string>();
          if (!s) return make_error(Errc::invalid_argument, where + " " + key + " must be a string");
          (key == "url" ? c.url : key == "stream" ? c.stream : c.host_id) = *s;
        } else if (key == "replicas" || key == "batch") {
          auto i = v.value<std::int64_t>();
          const bool bad = !i || (key == "replicas" ? (*i < 1 || *i > 5) : (*i < 1 || *i > 100000));
          if (bad)
            return make_error(Errc::invalid_argument,
                              where + " " + key + (key == "replicas" ? " must be 1 to 5 (JetStream's limit)" : " must be 1 to 100000"));
          (key == "replicas" ? c.replicas : c.batch) = static_cast<int>(*i);
        } else if (key == "job_ack_wait" || key == "job_max_deliver") {
          auto i = v.value<std::int64_t>();
          const bool ack = key == "job_ack_wait";
          if (!i || *i < 1 || *i > (ack ? 86400 : 100))
            return make_error(Errc::invalid_argument,
                              where + " " + key + (ack ? " must be 1 to 86400 (seconds)" : " must be 1 to 100 (deliveries)"));
          (ack ? c.job_ack_wait_s : c.job_max_deliver) = static_cast<int>(*i);
        } else if (key == "worker_remotes" || key == "worker_commands") {
          const toml::array* a = v.as_array();
          std::vector<std::string> list;
          if (a)
            for (const auto& x : *a)
              if (auto str = x.value<std::string>()) list.push_back(*str);
          if (!a || list.size() != a->size())
            return make_error(Errc::invalid_argument,
                              where + " " + key + " must be an array of strings, e.g. " +
                                  (key == "worker_remotes" ? "worker_remotes = [\"/srv/git/*.git\", \"git@github.com:acme/*\"]"
                                                           : "worker_commands = [\"claude -p\"]"));
          (key == "worker_remotes" ? c.worker_remotes : c.worker_commands) = std::move(list);
        } else if (key == "token" || key == "creds") {
          return make_error(Errc::invalid_argument, where + " " + key + ": credentials do not go in fixhost.toml (it is "
                                                    "recorded in every run); set $FIXHOST_NATS_TOKEN or $FIXHOST_NATS_CREDS");
        } else {
          return make_error(Errc::invalid_argument, where + " '" + key + "' is not a cluster setting; use url, stream, "
                                                    "replicas, host_id, batch, job_ack_wait, job_max_deliver, worker_remotes, worker_commands");
        }
      }
    }
  }
  if (auto u = env("FIXHOST_CLUSTER_URL"); !u.empty()) c.url = u;
  if (auto h = env("FIXHOST_CLUSTER_HOST_ID"); !h.empty()) c.host_id = h;
  c.token = env("FIXHOST_NATS_TOKEN");
  c.creds = env("FIXHOST_NATS_CREDS");
  if (!c.host_id.empty() && !valid_host_id(c.host_id))
    return make_error(Errc::invalid_argument, "cluster host_id '" + c.host_id +
                                                  "' may hold only letters, digits, '-' and '_' (it is a subject token)");
  if (!valid_host_id(c.stream)) return make_error(Errc::invalid_argument, "cluster stream '" + c.stream + "' may hold only letters, digits, '-' and '_'");
  return c;
}

Result<std::string> cluster_host_id(const ClusterConfig& config, const fs::path& store_dir) {
  if (!config.host_id.empty()) return config.host_id;
  const fs::path dir = cluster_dir(store_dir);
  const fs::path file = dir / "host_id";
  std::string id = read_text(file);
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  if (!id.empty()) return id;
  std::error_code ec;
  fs::create_directories(dir, ec);
  char host[128] = {};
  ::gethostname(host, sizeof host - 1);
  std::string h;
  for (char* p = host; *p; ++p) h += (std::isalnum(static_cast<unsigned char>(*p)) || *p == '-') ? *p : '-';
  if (h.empty()) h = "host";
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "-%06x", static_cast<unsigned>(rd() & 0xffffff));
  id = h.substr(0, 40) + suffix;
  if (auto st = write_atomic(file, id + "\n"); !st) return st;
  return id;
}

Result<ForwarderState> read_forwarder_state(const fs::path& store_dir) {
  ForwarderState st;
  const fs::path file = cluster_dir(store_dir) / "forwarder.json";
  std::error_code ec;
  if (!fs::exists(file, ec)) return st;
  try {
    json j = json::parse(read_text(file));
    st.host_id = j.value("host_id", "");
    st.acked_seq = j.value("acked_seq", std::uint64_t{0});
    st.updated_us = j.value("updated_us", std::int64_t{0});
    st.last_error = j.value("last_error", "");
    st.last_error_us = j.value("last_error_us", std::int64_t{0});
  } catch (const std::exception& e) {
    return make_error(Errc::corruption, "'" + file.string() + "' does not parse (" + e.what() +
                                            "); remove it to publish again from the first event (duplicates are dropped)");
  }
  return st;
}

Result<ForwardReport> forward_events(const ClusterConfig& config, const fs::path& store_dir, const ForwardOptions& o) {
  if (!config.enabled()) return make_error(Errc::invalid_argument, "the cluster is off: set [cluster] url in fixhost.toml or $FIXHOST_CLUSTER_URL");
  auto id = cluster_host_id(config, store_dir);
  if (!id) return id.status();
  auto state = read_forwarder_state(store_dir);
  if (!state) return state.status();
  ForwarderState st = *state;
  st.host_id = *id;
  ForwardReport report;
  report.acked_seq = st.acked_seq;

  store::StoreOptions so;
  so.writable = false;
  so.create_if_missing = false;
  auto log = store::EventLog::open(store_dir, so);
  if (!log) return log.status();

  std::unique_ptr<world::JetStream> js;
  auto record_error = [&](const Status& s) {
    st.last_error = s.to_string();
    st.last_error_us = events::now_us();
    (void)write_forwarder_state(store_dir, st);
    if (o.progress) o.progress("cluster: " + st.last_error);
  };
  auto sleep_while = [&](std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end && o.keep_going()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  const std::string prefix = subject_prefix() + "." + *id + ".";

  while (o.keep_going()) {
    if (!js) {
      auto c = world::JetStream::connect(nats_options(config, "fixhost-forwarder-" + *id));
      Status s = c ? Status::ok() : c.status();
      if (c) {
        js = std::move(*c);
        s = js->ensure_stream(config.stream, {subject_prefix() + ".>"}, config.replicas);
        if (!s) js.reset();
      }
      if (!s) {
        record_error(s);
        if (!o.follow || s.code() == Errc::refused || s.code() == Errc::invalid_argument) return s;
        sleep_while(o.retry);
        continue;
      }
    }
    if (auto s = (*log)->refresh(); !s) return s;
    const std::uint64_t last = (*log)->last_seq();
    if (st.acked_seq >= last) {
      if (!st.last_error.empty()) {
        st.last_error.clear();
        (void)write_forwarder_state(store_dir, st);
      }
      if (!o.follow) break;
      sleep_while(o.poll);
      continue;
    }
    std::vector<world::NatsOutMsg> msgs;
    std::vector<std::uint64_t> seqs;
    const std::uint64_t to = std::min<std::uint64_t>(last, st.acked_seq + static_cast<std::uint64_t>(config.batch));
    auto scanned = (*log)->scan(st.acked_seq + 1, to, [&](const events::Event& e) {
      world::NatsOutMsg m;
      m.subject = prefix + std::string(events::event_type_name(e.type));
      m.data = events::encode_envelope(e);
      m.headers = {{"Nats-Msg-Id", *id + ":" + std::to_string(e.seq)},
                   {"Fixhost-Host", *id},
                   {"Fixhost-Run", e.run_id},
                   {"Fixhost-Seq", std::to_string(e.seq)},
                   {"Fixhost-Type", std::string(events::event_type_name(e.type))},
                   {"Fixhost-Schema", std::to_string(e.schema)}};
      msgs.push_back(std::move(m));
      seqs.push_back(e.seq);
      return true;
    });
    if (!scanned) return scanned;
    // A seq lost to a repair is never handed out again: skip over it.
    std::uint64_t top = seqs.empty() ? to : seqs.back();
    std::function<void(std::size_t)> on_ack;
    if (o.on_ack) on_ack = [&](std::size_t i) { o.on_ack(seqs[i]); };
    auto s = js->publish_all(msgs, std::chrono::milliseconds(5000), on_ack);
    if (!s) {
      record_error(s);
      if (!o.follow) return s;
      sleep_while(o.retry);
      continue;  // the same events again from the checkpoint; JetStream drops what it has
    }
    report.published += msgs.size();
    st.acked_seq = top;
    st.updated_us = events::now_us();
    st.last_error.clear();
    if (auto w = write_forwarder_state(store_dir, st); !w) return w;
    report.acked_seq = st.acked_seq;
  }
  report.acked_seq = st.acked_seq;
  return report;
}

namespace {

// Per host: the cache seq of each host seq (entry i is host seq i + 1), kept in
// <cache>/map/<host>.u64 as little-endian 8-byte entries.
struct SeqMap {
  std::map<std::string, std::vector<std::uint64_t>> by_host;
  std::map<std::string, std::size_t> saved;  // entries already on disk
};

}  // namespace

Result<CacheReport> sync_cluster_cache(const ClusterConfig& config, const fs::path& store_dir) {
  if (!config.enabled()) return make_error(Errc::invalid_argument, "the cluster is off: set [cluster] url in fixhost.toml or $FIXHOST_CLUSTER_URL");
  CacheReport report;
  const fs::path base = cluster_dir(store_dir) / "view";
  report.dir = base / "store";
  std::error_code ec;
  fs::create_directories(base / "map", ec);

  SeqMap map;
  for (const auto& entry : fs::directory_iterator(base / "map", ec)) {
    if (entry.path().extension() != ".u64") continue;
    std::string bytes = read_text(entry.path());
    auto& v = map.by_host[entry.path().stem().string()];
    v.resize(bytes.size() / 8);
    for (std::size_t i = 0; i < v.size(); ++i) {
      std::uint64_t x = 0;
      for (int b = 7; b >= 0; --b) x = (x << 8) | static_cast<unsigned char>(bytes[i * 8 + b]);
      v[i] = x;
    }
    map.saved[entry.path().stem().string()] = v.size();
  }
  std::uint64_t checkpoint = 0;
  if (auto t = read_text(base / "stream_seq"); !t.empty()) checkpoint = std::strtoull(t.c_str(), nullptr, 10);

  store::StoreOptions so;
  so.holder = "hostctl cluster view";
  so.sync = false;
  so.projections.push_back(stats_projection());
  auto cache = store::EventLog::open(report.dir, so);
  if (!cache) return cache.status();
  auto c = world::JetStream::connect(nats_options(config, "fixhost-view"));
  if (!c) return c.status();
  auto& js = *c;

  // Events of one host arrive in seq order except after a fault (a re-send after a leader change
  // can land behind later ones): those wait here until their predecessor came.
  std::map<std::string, std::map<std::uint64_t, std::pair<std::uint64_t, events::Event>>> waiting;
  std::vector<events::Event> batch;
  std::vector<std::pair<std::string, std::uint64_t>> batch_origin;  // host, host seq
  Status failed = Status::ok();
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::ok();
    // Causation points at the host's seq; in the cache it must point at the cache's.
    auto first = (*cache)->append_batch(batch, false);
    if (!first) return first.status();
    batch.clear();
    batch_origin.clear();
    return Status::ok();
  };
  auto apply = [&](const std::string& host, events::Event e) -> Status {
    auto& v = map.by_host[host];
    if (e.causation > 0) e.causation = e.causation <= v.size() ? v[e.causation - 1] : 0;
    e.seq = 0;
    // The cache seq this event gets: the next after what the cache has plus the batch so far.
    const std::uint64_t cache_seq = (*cache)->last_seq() + batch.size() + 1;
    v.push_back(cache_seq);
    batch.push_back(std::move(e));
    batch_origin.emplace_back(host, v.size());
    ++report.added;
    if (batch.size() >= 2000) return flush();
    return Status::ok();
  };
  auto offer = [&](const std::string& host, std::uint64_t host_seq, std::uint64_t stream_seq, events::Event e) -> Status {
    auto& v = map.by_host[host];
    if (host_seq <= v.size()) return Status::ok();  // already in the cache
    auto& w = waiting[host];
    if (host_seq > v.size() + 1) {
      w.emplace(host_seq, std::make_pair(stream_seq, std::move(e)));
      return Status::ok();
    }
    if (auto s = apply(host, std::move(e)); !s) return s;
    while (!w.empty() && w.begin()->first <= v.size() + 1) {
      auto node = w.extract(w.begin());
      if (node.key() == v.size() + 1)
        if (auto s = apply(host, std::move(node.mapped().second)); !s) return s;
    }
    return Status::ok();
  };
  std::uint64_t last_read = checkpoint;
  auto r = js->read(config.stream, subject_prefix() + ".>", checkpoint + 1, [&](const world::NatsInMsg& m) {
    ++report.read;
    last_read = m.stream_seq;
    auto h = m.headers.find("Fixhost-Host");
    auto q = m.headers.find("Fixhost-Seq");
    if (h == m.headers.end() || q == m.headers.end()) return true;  // not a fixhost event
    auto e = events::decode_envelope(m.data);
    if (!e) return true;
    failed = offer(h->second, std::strtoull(q->second.c_str(), nullptr, 10), m.stream_seq, std::move(*e));
    return failed.is_ok();
  });
  if (!r) return r;
  if (!failed) return failed;
  if (auto s = flush(); !s) return s;
  if (auto s = (*cache)->sync(); !s) return s;
  // The map after the cache (a crash between them re-adds the last events once: documented).
  for (auto& [host, v] : map.by_host) {
    std::size_t from = map.saved[host];
    if (from >= v.size()) continue;
    std::string bytes;
    for (std::size_t i = from; i < v.size(); ++i)
      for (int b = 0; b < 8; ++b) bytes.push_back(static_cast<char>((v[i] >> (8 * b)) & 0xff));
    std::ofstream out(base / "map" / (host + ".u64"), std::ios::binary | std::ios::app);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return make_error(Errc::io_error, "cannot write the view map in '" + (base / "map").string() + "'");
  }
  // Messages still waiting for a predecessor are read again next time.
  std::uint64_t next = last_read;
  for (auto& [host, w] : waiting)
    for (auto& [hs, p] : w) next = std::min(next, p.first - 1);
  if (auto s = write_atomic(base / "stream_seq", std::to_string(next) + "\n"); !s) return s;
  report.stream_seq = next;
  return report;
}

}  // namespace fixhost::host
