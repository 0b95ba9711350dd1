#pragma once
// The writer channel: while `hostctl serve` holds a store's writer lock, a command that records
// (heal, autofix, detect, ...) hands its event batches to serve over a unix socket in the store
// directory (`<store>/SERVE.sock`, mode 0600, peers of another uid refused) instead of failing
// with Busy. serve appends each batch through its recorder, the store's only writer, and answers
// with the seqs it assigned once the batch is durable (docs/STORE.md, "One writer, many readers").
//
// Frame layout, both directions: u32 length (little-endian, of what follows) | u8 kind | body.
//   client -> serve  'A' (append): u32 count, then per event u32 length | the event's envelope
//   serve -> client  'O' (appended): u64 first seq     'E' (refused): the error message
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fixhost/events/event.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host {

// `<store>/SERVE.sock`.
std::filesystem::path writer_socket_path(const std::filesystem::path& store_dir);

// A connection to the serve that writes a store. One thread at a time (RunContext serialises).
class WriterChannel {
 public:
  // Connects to the store's SERVE.sock. NotFound when no serve listens there (no socket, or a
  // stale one: connection refused); IOError for anything else.
  static Result<std::unique_ptr<WriterChannel>> connect(const std::filesystem::path& store_dir);
  ~WriterChannel();
  WriterChannel(const WriterChannel&) = delete;
  WriterChannel& operator=(const WriterChannel&) = delete;

  // Sends the batch, waits until serve has appended it durably and sets each event's seq.
  // Returns the first seq. IOError when serve went away (named, with the last seq it answered):
  // nothing of this batch is known to be recorded, everything answered before is.
  Result<std::uint64_t> append(std::span<events::Event> batch);

  // The highest seq serve has answered on this channel (0 before the first append).
  std::uint64_t last_seq() const { return last_seq_; }

 private:
  WriterChannel(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::filesystem::path path_;
  std::uint64_t last_seq_ = 0;
  bool broken_ = false;
};

// serve's end: listens on SERVE.sock, one thread per connected command. `append` is called from
// those threads with a decoded batch (seqs 0) and must return once it is durable (the first seq)
// or with the error to send back.
class WriterChannelServer {
 public:
  using AppendHandler = std::function<Result<std::uint64_t>(std::vector<events::Event>&)>;
  // Largest frame accepted. Default: 256 MiB
  static constexpr std::uint32_t k_max_frame = 256u << 20;

  // Removes a stale socket file (the caller holds the writer lock, so no other serve is live),
  // binds, chmods 0600 and starts accepting. IOError names the path and the problem.
  static Result<std::unique_ptr<WriterChannelServer>> listen(const std::filesystem::path& store_dir,
                                                             AppendHandler append);
  // stop(): stops accepting, closes every connection (a command mid-run gets a clear error on
  // its next append), joins the threads and removes the socket file.
  ~WriterChannelServer();
  void stop();
  const std::filesystem::path& path() const { return path_; }
  // Batches appended for commands so far.
  std::uint64_t batches() const;

  struct State;

 private:
  explicit WriterChannelServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::filesystem::path path_;
};

}  // namespace fixhost::host
