// The JetStream adapter over libnats (nats.c 3.4): every libnats status becomes a Status here.
#include "fixhost/host/world/jetstream.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>
#include <unordered_map>

namespace fixhost::host::world {
namespace {

std::string nats_text(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  std::string t = natsStatus_GetText(s);
  if (last && *last && t != last) t += std::string(": ") + last;
  return t;
}

Status nats_error(natsStatus s, const std::string& what) {
  Errc c = s == NATS_TIMEOUT               ? Errc::timeout
           : s == NATS_NOT_PERMITTED       ? Errc::refused
           : s == NATS_NO_SERVER           ? Errc::io_error
           : s == NATS_CONNECTION_CLOSED   ? Errc::io_error
           : s == NATS_NOT_FOUND           ? Errc::not_found
                                           : Errc::io_error;
  std::string t = nats_text(s);
  if (t.find("uthorization") != std::string::npos) c = Errc::refused;
  return make_error(c, what + ": " + t);
}

}  // namespace

struct JetStream::Impl {
  NatsOptions options;
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;

  std::mutex mu;
  std::unordered_map<natsMsg*, std::size_t> inflight;
  std::function<void(std::size_t)> on_ack;
  std::size_t acked = 0, failed = 0;
  std::string first_error;

  static void ack_handler(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<Impl*>(closure);
    std::function<void(std::size_t)> cb;
    std::size_t index = 0;
    bool ok = pa != nullptr && pae == nullptr;
    {
      std::lock_guard lock(self->mu);
      auto it = self->inflight.find(msg);
      if (it != self->inflight.end()) {
        index = it->second;
        self->inflight.erase(it);
        if (ok) {
          ++self->acked;
          cb = self->on_ack;
        } else {
          ++self->failed;
          if (self->first_error.empty())
            self->first_error = pae ? std::string(pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err)) : "no ack";
        }
      }
    }
    if (cb) cb(index);
    natsMsg_Destroy(msg);
  }

  std::unordered_map<std::string, natsSubscription*> pulls;

  ~Impl() {
    for (auto& [k, sub] : pulls)
      if (sub) natsSubscription_Destroy(sub);
    if (js) jsCtx_Destroy(js);
    if (nc) {
      natsConnection_Close(nc);
      natsConnection_Destroy(nc);
    }
    if (opts) natsOptions_Destroy(opts);
  }
};

JetStream::JetStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JetStream::~JetStream() = default;

Result<std::unique_ptr<JetStream>> JetStream::connect(const NatsOptions& o) {
  if (o.url.empty()) return make_error(Errc::invalid_argument, "cluster url is empty; set [cluster] url = \"nats://host:4222\"");
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  const std::string where = "NATS server '" + o.url + "'";
  natsStatus s = natsOptions_Create(&impl->opts);
  // A list of servers: the client picks one and fails over to the others.
  std::vector<std::string> urls;
  for (std::size_t at = 0; at <= o.url.size();) {
    std::size_t comma = o.url.find(',', at);
    if (comma == std::string::npos) comma = o.url.size();
    if (comma > at) urls.push_back(o.url.substr(at, comma - at));
    at = comma + 1;
  }
  std::vector<const char*> url_ptrs;
  for (const auto& u : urls) url_ptrs.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(impl->opts, url_ptrs.data(), static_cast<int>(url_ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetName(impl->opts, o.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(impl->opts, o.timeout.count());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(impl->opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(impl->opts, 250);
  if (s == NATS_OK && !o.token.empty()) s = natsOptions_SetToken(impl->opts, o.token.c_str());
  if (s == NATS_OK && !o.creds.empty()) s = natsOptions_SetUserCredentialsFromFiles(impl->opts, o.creds.c_str(), nullptr);
  if (s != NATS_OK) return nats_error(s, where + ": bad connection options");
  s = natsConnection_Connect(&impl->nc, impl->opts);
  if (s != NATS_OK) {
    auto st = nats_error(s, "cannot connect to " + where);
    if (st.code() == Errc::refused)
      return make_error(Errc::refused, st.message() + " (the server refused the credentials; check $FIXHOST_NATS_TOKEN or $FIXHOST_NATS_CREDS)");
    return st;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = std::max<std::int64_t>(o.timeout.count(), 5000);
  jo.PublishAsync.MaxPending = 8192;
  jo.PublishAsync.AckHandler = &Impl::ack_handler;
  jo.PublishAsync.AckHandlerClosure = impl.get();
  s = natsConnection_JetStream(&impl->js, impl->nc, &jo);
  if (s != NATS_OK) return nats_error(s, where + ": no JetStream context");
  return std::unique_ptr<JetStream>(new JetStream(std::move(impl)));
}

Status JetStream::ensure_stream(const std::string& name, const std::vector<std::string>& subjects, int replicas,
                                bool work_queue) {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, impl_->js, name.c_str(), nullptr, &jerr);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return Status::ok();
  }
  if (s != NATS_NOT_FOUND) return nats_error(s, "stream '" + name + "' on '" + impl_->options.url + "'");
  std::vector<const char*> subs;
  for (const auto& x : subjects) subs.push_back(x.c_str());
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = name.c_str();
  sc.Subjects = subs.data();
  sc.SubjectsLen = static_cast<int>(subs.size());
  sc.Storage = js_FileStorage;
  sc.Replicas = replicas;
  if (work_queue) sc.Retention = js_WorkQueuePolicy;
  sc.Duplicates = 120LL * 1000 * 1000 * 1000;  // ns
  s = js_AddStream(&si, impl_->js, &sc, nullptr, &jerr);
  if (s != NATS_OK)
    return nats_error(s, "cannot create stream '" + name + "' with " + std::to_string(replicas) + " replicas on '" +
                             impl_->options.url + "' (a cluster needs at least that many JetStream servers)");
  jsStreamInfo_Destroy(si);
  return Status::ok();
}

Result<StreamState> JetStream::stream_state(const std::string& name) {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, impl_->js, name.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return nats_error(s, "stream '" + name + "' on '" + impl_->options.url + "'");
  StreamState st;
  st.messages = si->State.Msgs;
  st.first_seq = si->State.FirstSeq;
  st.last_seq = si->State.LastSeq;
  st.replicas = si->Config ? static_cast<int>(si->Config->Replicas) : 0;
  jsStreamInfo_Destroy(si);
  return st;
}

Status JetStream::publish_all(std::vector<NatsOutMsg>& msgs, std::chrono::milliseconds wait,
                              const std::function<void(std::size_t)>& on_ack) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->on_ack = on_ack;
    impl_->acked = impl_->failed = 0;
    impl_->first_error.clear();
    impl_->inflight.clear();
  }
  const std::string where = "publish to '" + impl_->options.url + "'";
  natsStatus s = NATS_OK;
  for (std::size_t i = 0; i < msgs.size() && s == NATS_OK; ++i) {
    natsMsg* m = nullptr;
    s = natsMsg_Create(&m, msgs[i].subject.c_str(), nullptr, msgs[i].data.data(), static_cast<int>(msgs[i].data.size()));
    for (const auto& [k, v] : msgs[i].headers)
      if (s == NATS_OK) s = natsMsgHeader_Set(m, k.c_str(), v.c_str());
    if (s == NATS_OK) {
      std::lock_guard lock(impl_->mu);
      impl_->inflight[m] = i;
    }
    natsMsg* keep = m;
    if (s == NATS_OK) s = js_PublishMsgAsync(impl_->js, &m, nullptr);
    if (s != NATS_OK) {
      std::lock_guard lock(impl_->mu);
      impl_->inflight.erase(keep);
    }
    natsMsg_Destroy(m);  // no-op when the library took it
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = wait.count();
  natsStatus c = js_PublishAsyncComplete(impl_->js, &po);
  if (c != NATS_OK) {
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, impl_->js) == NATS_OK) {
      {
        std::lock_guard lock(impl_->mu);
        for (int i = 0; i < pending.Count; ++i) impl_->inflight.erase(pending.Msgs[i]);
      }
      natsMsgList_Destroy(&pending);
    }
  }
  std::lock_guard lock(impl_->mu);
  impl_->on_ack = {};
  if (s != NATS_OK) return nats_error(s, where);
  if (c != NATS_OK) return nats_error(c, where + " (" + std::to_string(impl_->acked) + " of " +
                                             std::to_string(msgs.size()) + " acknowledged)");
  if (impl_->failed > 0 || impl_->acked < msgs.size())
    return make_error(Errc::io_error, where + ": " + std::to_string(msgs.size() - impl_->acked) +
                                          " not acknowledged: " + impl_->first_error);
  return Status::ok();
}

Status JetStream::read(const std::string& stream, const std::string& filter, std::uint64_t from,
                       const std::function<bool(const NatsInMsg&)>& visit) {
  auto state = stream_state(stream);
  if (!state) return state.status();
  const std::uint64_t last = state->last_seq;
  if (last == 0 || from > last) return Status::ok();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = from < 1 ? 1 : from;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = NATS_TIMEOUT;
  // Right after a node died the consumer create request can time out until the stream's leader
  // is elected again: a few tries.
  for (int attempt = 0; attempt < 5; ++attempt) {
    s = js_SubscribeSync(&sub, impl_->js, filter.c_str(), nullptr, &so, &jerr);
    if (s != NATS_TIMEOUT) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (s != NATS_OK) return nats_error(s, "cannot read stream '" + stream + "' on '" + impl_->options.url + "'");
  // The reader decodes and appends while the server pushes: no client-side drop limit (flow
  // control of the ordered consumer bounds what is in flight).
  natsSubscription_SetPendingLimits(sub, -1, -1);
  Status result = Status::ok();
  std::uint64_t seen = from > 0 ? from - 1 : 0;
  while (seen < last) {
    natsMsg* m = nullptr;
    s = natsSubscription_NextMsg(&m, sub, impl_->options.timeout.count() * 5);
    if (s == NATS_TIMEOUT) {
      // A filtered read ends when nothing more matches up to `last`.
      break;
    }
    if (s != NATS_OK) {
      result = nats_error(s, "reading stream '" + stream + "'");
      break;
    }
    jsMsgMetaData* meta = nullptr;
    NatsInMsg in;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      in.stream_seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
    in.subject = natsMsg_GetSubject(m);
    in.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
    const char** keys = nullptr;
    int n = 0;
    if (natsMsgHeader_Keys(m, &keys, &n) == NATS_OK) {
      for (int i = 0; i < n; ++i) {
        const char* v = nullptr;
        if (natsMsgHeader_Get(m, keys[i], &v) == NATS_OK && v) in.headers[keys[i]] = v;
      }
      std::free(static_cast<void*>(keys));
    }
    natsMsg_Destroy(m);
    seen = in.stream_seq;
    if (in.stream_seq > last) break;
    if (!visit(in)) break;
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return result;
}

Status JetStream::ensure_pull_consumer(const std::string& stream, const std::string& durable, const std::string& filter,
                                       std::chrono::milliseconds ack_wait, int max_deliver) {
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&ci, impl_->js, stream.c_str(), durable.c_str(), nullptr, &jerr);
  if (s == NATS_OK) {
    jsConsumerInfo_Destroy(ci);
    return Status::ok();
  }
  if (s != NATS_NOT_FOUND) return nats_error(s, "consumer '" + durable + "' of stream '" + stream + "'");
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = durable.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = static_cast<int64_t>(ack_wait.count()) * 1000 * 1000;  // ns
  cc.MaxDeliver = max_deliver;
  cc.FilterSubject = filter.c_str();
  cc.MaxAckPending = 10000;
  s = js_AddConsumer(&ci, impl_->js, stream.c_str(), &cc, nullptr, &jerr);
  if (s != NATS_OK) {
    // Another worker created it first: fine.
    if (js_GetConsumerInfo(&ci, impl_->js, stream.c_str(), durable.c_str(), nullptr, &jerr) == NATS_OK) {
      jsConsumerInfo_Destroy(ci);
      return Status::ok();
    }
    return nats_error(s, "cannot create consumer '" + durable + "' on stream '" + stream + "'");
  }
  jsConsumerInfo_Destroy(ci);
  return Status::ok();
}

struct JetStream::Pulled::Raw {
  natsMsg* m = nullptr;
  ~Raw() {
    if (m) natsMsg_Destroy(m);
  }
};

JetStream::Pulled::Pulled(std::unique_ptr<Raw> raw) : raw_(std::move(raw)) {}
JetStream::Pulled::~Pulled() = default;

Status JetStream::Pulled::ack() {
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = natsMsg_AckSync(raw_->m, nullptr, &jerr);
  return s == NATS_OK ? Status::ok() : nats_error(s, "ack of '" + msg.subject + "'");
}
Status JetStream::Pulled::in_progress() {
  natsStatus s = natsMsg_InProgress(raw_->m, nullptr);
  return s == NATS_OK ? Status::ok() : nats_error(s, "in-progress of '" + msg.subject + "'");
}
Status JetStream::Pulled::nak(std::chrono::milliseconds delay) {
  natsStatus s = delay.count() > 0 ? natsMsg_NakWithDelay(raw_->m, delay.count(), nullptr) : natsMsg_Nak(raw_->m, nullptr);
  return s == NATS_OK ? Status::ok() : nats_error(s, "nak of '" + msg.subject + "'");
}
Status JetStream::Pulled::term() {
  natsStatus s = natsMsg_Term(raw_->m, nullptr);
  return s == NATS_OK ? Status::ok() : nats_error(s, "term of '" + msg.subject + "'");
}

Result<std::unique_ptr<JetStream::Pulled>> JetStream::pull(const std::string& stream, const std::string& durable,
                                                          const std::string& filter, std::chrono::milliseconds wait) {
  const std::string key = stream + "/" + durable;
  natsSubscription*& sub = impl_->pulls[key];
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = NATS_OK;
  if (!sub) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Consumer = durable.c_str();
    so.ManualAck = true;
    s = js_PullSubscribe(&sub, impl_->js, filter.c_str(), durable.c_str(), nullptr, &so, &jerr);
    if (s != NATS_OK) {
      sub = nullptr;
      return nats_error(s, "cannot bind to consumer '" + durable + "' of stream '" + stream + "' on '" +
                               impl_->options.url + "'");
    }
  }
  natsMsgList list{};
  s = natsSubscription_Fetch(&list, sub, 1, std::max<std::int64_t>(wait.count(), 1), &jerr);
  if (s == NATS_TIMEOUT) return std::unique_ptr<Pulled>{};
  if (s != NATS_OK) return nats_error(s, "fetch from consumer '" + durable + "'");
  std::unique_ptr<Pulled> out;
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* m = list.Msgs[i];
    list.Msgs[i] = nullptr;
    if (out) {  // batch of 1: never more
      natsMsg_Nak(m, nullptr);
      natsMsg_Destroy(m);
      continue;
    }
    auto raw = std::make_unique<Pulled::Raw>();
    raw->m = m;
    out = std::make_unique<Pulled>(std::move(raw));
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      out->msg.stream_seq = meta->Sequence.Stream;
      out->delivered = meta->NumDelivered;
      jsMsgMetaData_Destroy(meta);
    }
    out->msg.subject = natsMsg_GetSubject(m);
    out->msg.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
    const char** keys = nullptr;
    int n = 0;
    if (natsMsgHeader_Keys(m, &keys, &n) == NATS_OK) {
      for (int k = 0; k < n; ++k) {
        const char* v = nullptr;
        if (natsMsgHeader_Get(m, keys[k], &v) == NATS_OK && v) out->msg.headers[keys[k]] = v;
      }
      std::free(static_cast<void*>(keys));
    }
  }
  natsMsgList_Destroy(&list);
  return out;
}

}  // namespace fixhost::host::world
