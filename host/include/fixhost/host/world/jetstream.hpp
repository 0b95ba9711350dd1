#pragma once
// A NATS JetStream connection (the official C client, libnats): connect with a token or a creds
// file, create a stream when missing, publish with acknowledgements, read a stream in order.
// A JetStream object is used by one thread at a time. docs/CLUSTER.md.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::host::world {

struct NatsOptions {
  // nats://host:port (tls://host:port for TLS); several separated by commas.
  std::string url;
  // Token ($FIXHOST_NATS_TOKEN) or a creds file ($FIXHOST_NATS_CREDS). Default: none
  std::string token;
  std::string creds;
  // Connection name, shown by the server. Default: "fixhost"
  std::string name = "fixhost";
  // Connect timeout and the wait for one JetStream API reply. Default: 2 s
  std::chrono::milliseconds timeout{2000};
};

struct NatsOutMsg {
  std::string subject;
  std::string data;
  std::vector<std::pair<std::string, std::string>> headers;  // Nats-Msg-Id among them
};

struct NatsInMsg {
  std::string subject;
  std::string data;
  std::map<std::string, std::string> headers;
  std::uint64_t stream_seq = 0;
};

struct StreamState {
  std::uint64_t messages = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  int replicas = 0;
};

class JetStream {
 public:
  // Errors name the URL and the server's reason (Refused for an authorization failure,
  // IOError when no server answers).
  static Result<std::unique_ptr<JetStream>> connect(const NatsOptions& options);
  ~JetStream();
  JetStream(const JetStream&) = delete;
  JetStream& operator=(const JetStream&) = delete;

  // Creates the stream (file storage, `replicas` copies, 2 min duplicate window) unless it exists.
  // `work_queue`: WorkQueue retention (a message is removed once a consumer acknowledges it).
  Status ensure_stream(const std::string& name, const std::vector<std::string>& subjects, int replicas,
                       bool work_queue = false);
  Result<StreamState> stream_state(const std::string& name);

  // Publishes every message asynchronously and waits (up to `wait`) for all acknowledgements.
  // `on_ack(i)` is called (from the library's thread) for message i once the stream stored it.
  // Ok only when every message was acknowledged.
  Status publish_all(std::vector<NatsOutMsg>& msgs, std::chrono::milliseconds wait,
                     const std::function<void(std::size_t)>& on_ack = {});

  // Delivers the messages of `stream` (matching `filter`) with stream seq >= from, in order,
  // up to its last seq at the time of the call; visit returns false to stop.
  Status read(const std::string& stream, const std::string& filter, std::uint64_t from,
              const std::function<bool(const NatsInMsg&)>& visit);

  // Creates the durable pull consumer `durable` on `stream` unless it exists: explicit acks,
  // redelivery `ack_wait` after a delivery nobody acknowledged, at most `max_deliver`
  // deliveries (-1: no limit). An existing consumer keeps its settings.
  Status ensure_pull_consumer(const std::string& stream, const std::string& durable, const std::string& filter,
                              std::chrono::milliseconds ack_wait, int max_deliver);

  // One message taken from a pull consumer; until ack(), nak() or term() the consumer keeps it
  // for this holder, for ack_wait after the delivery or the last in_progress().
  class Pulled {
   public:
    ~Pulled();
    Pulled(const Pulled&) = delete;
    Pulled& operator=(const Pulled&) = delete;
    NatsInMsg msg;
    std::uint64_t delivered = 0;  // 1 for the first delivery
    Status ack();                 // waits for the server's confirmation
    Status in_progress();         // resets the ack wait (a heartbeat for long work)
    Status nak(std::chrono::milliseconds delay = {});
    Status term();                // never deliver it again
    struct Raw;
    explicit Pulled(std::unique_ptr<Raw> raw);
   private:
    std::unique_ptr<Raw> raw_;
  };

  // Waits up to `wait` for the next message of the durable consumer (nullptr when none came).
  Result<std::unique_ptr<Pulled>> pull(const std::string& stream, const std::string& durable,
                                       const std::string& filter, std::chrono::milliseconds wait);

  struct Impl;

 private:
  explicit JetStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fixhost::host::world
