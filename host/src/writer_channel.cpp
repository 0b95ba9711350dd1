#include "fixhost/host/writer_channel.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <spdlog/spdlog.h>
#include <thread>

#include "fixhost/events/codec.hpp"

namespace fixhost::host {
namespace {

namespace fs = std::filesystem;

std::string errno_text(int e) { return std::strerror(e); }

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_le(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// One frame: kind and body. False on EOF, error or an oversized frame.
bool read_frame(int fd, char& kind, std::string& body) {
  char head[5];
  if (!read_all(fd, head, 5)) return false;
  const auto len = static_cast<std::uint32_t>(get_le(head, 4));
  if (len == 0 || len > WriterChannelServer::k_max_frame) return false;
  kind = head[4];
  body.resize(len - 1);
  return body.empty() || read_all(fd, body.data(), body.size());
}

bool write_frame(int fd, char kind, std::string_view body) {
  std::string out;
  out.reserve(5 + body.size());
  put_u32(out, static_cast<std::uint32_t>(body.size() + 1));
  out.push_back(kind);
  out.append(body);
  return write_all(fd, out.data(), out.size());
}

Result<sockaddr_un> socket_address(const fs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string s = path.string();
  if (s.size() >= sizeof addr.sun_path)
    return make_error(Errc::invalid_argument, "the writer socket path '" + s + "' is longer than the " +
                                                  std::to_string(sizeof addr.sun_path - 1) +
                                                  " bytes a unix socket allows; use a shorter --store path");
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
  return addr;
}

}  // namespace

fs::path writer_socket_path(const fs::path& store_dir) { return store_dir / "SERVE.sock"; }

// ---- client ----------------------------------------------------------------------------------

Result<std::unique_ptr<WriterChannel>> WriterChannel::connect(const fs::path& store_dir) {
  const fs::path path = writer_socket_path(store_dir);
  auto addr = socket_address(path);
  if (!addr) return addr.status();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(Errc::io_error, "socket(AF_UNIX): " + errno_text(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == ENOENT || e == ECONNREFUSED)
      return make_error(Errc::not_found, "no hostctl serve listens on '" + path.string() + "'");
    return make_error(Errc::io_error, "cannot connect to hostctl serve at '" + path.string() + "': " + errno_text(e));
  }
  return std::unique_ptr<WriterChannel>(new WriterChannel(fd, path));
}

WriterChannel::~WriterChannel() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::uint64_t> WriterChannel::append(std::span<events::Event> batch) {
  auto gone = [&](const std::string& what) {
    broken_ = true;
    return make_error(Errc::io_error,
                      "hostctl serve, the store's writer, went away (" + what + " on '" + path_.string() +
                          "') while this run was recording; everything serve answered (up to seq " +
                          std::to_string(last_seq_) +
                          ") is in the store, the batch in flight may not be; this run stops: run it again");
  };
  if (broken_) return gone("an earlier append failed");
  std::string body;
  put_u32(body, static_cast<std::uint32_t>(batch.size()));
  std::string env;
  for (const auto& e : batch) {
    env.clear();
    events::encode_envelope(e, env);
    put_u32(body, static_cast<std::uint32_t>(env.size()));
    body += env;
  }
  if (body.size() + 1 > WriterChannelServer::k_max_frame)
    return make_error(Errc::invalid_argument, "a batch of " + std::to_string(batch.size()) + " events (" +
                                                  std::to_string(body.size()) +
                                                  " bytes) is over the writer channel's frame limit");
  if (!write_frame(fd_, 'A', body)) return gone("sending failed: " + errno_text(errno));
  char kind = 0;
  std::string reply;
  if (!read_frame(fd_, kind, reply)) return gone("the connection closed before serve answered");
  if (kind == 'E') return make_error(Errc::io_error, "hostctl serve could not record the batch: " + reply);
  if (kind != 'O' || reply.size() != 8) return gone("an unexpected answer");
  const std::uint64_t first = get_le(reply.data(), 8);
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i].seq = first + i;
  if (!batch.empty()) last_seq_ = first + batch.size() - 1;
  return first;
}

// ---- server ----------------------------------------------------------------------------------

struct WriterChannelServer::State {
  AppendHandler append;
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  std::thread acceptor;
  std::mutex mu;
  struct Conn {
    int fd;
    std::thread thread;
  };
  std::list<Conn> conns;
  bool stopping = false;
  std::atomic<std::uint64_t> batches{0};

  void serve_connection(int fd) {
    char kind = 0;
    std::string body;
    while (read_frame(fd, kind, body)) {
      if (kind != 'A' || body.size() < 4) {
        (void)write_frame(fd, 'E', "unknown frame");
        break;
      }
      const auto count = static_cast<std::uint32_t>(get_le(body.data(), 4));
      std::vector<events::Event> batch;
      batch.reserve(count);
      std::size_t at = 4;
      std::string error;
      for (std::uint32_t i = 0; i < count && error.empty(); ++i) {
        if (body.size() - at < 4) {
          error = "truncated batch";
          break;
        }
        const auto len = static_cast<std::size_t>(get_le(body.data() + at, 4));
        at += 4;
        if (body.size() - at < len) {
          error = "truncated batch";
          break;
        }
        auto e = events::decode_envelope(std::string_view(body).substr(at, len));
        at += len;
        if (!e) error = e.status().to_string();
        else {
          e->seq = 0;
          batch.push_back(std::move(*e));
        }
      }
      if (error.empty() && at != body.size()) error = "trailing bytes after the batch";
      if (!error.empty()) {
        (void)write_frame(fd, 'E', error);
        continue;
      }
      auto first = append(batch);
      if (!first) {
        if (!write_frame(fd, 'E', first.status().to_string())) break;
        continue;
      }
      batches.fetch_add(1);
      std::string ok;
      put_u64(ok, *first);
      if (!write_frame(fd, 'O', ok)) break;
    }
  }

  void accept_loop() {
    while (true) {
      pollfd p[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
      int n = ::poll(p, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || (p[1].revents != 0)) return;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) {
        spdlog::warn("writer channel: refused a connection from uid {} (only uid {} may write this store)", cred.uid,
                     ::geteuid());
        ::close(fd);
        continue;
      }
      std::lock_guard lock(mu);
      if (stopping) {
        ::close(fd);
        return;
      }
      conns.push_back(Conn{fd, {}});
      auto& c = conns.back();
      c.thread = std::thread([this, fd] { serve_connection(fd); ::shutdown(fd, SHUT_RDWR); });
    }
  }
};

WriterChannelServer::WriterChannelServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<WriterChannelServer>> WriterChannelServer::listen(const fs::path& store_dir,
                                                                         AppendHandler append) {
  const fs::path path = writer_socket_path(store_dir);
  auto addr = socket_address(path);
  if (!addr) return addr.status();
  auto state = std::make_unique<State>();
  state->append = std::move(append);
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(Errc::io_error, "socket(AF_UNIX): " + errno_text(errno));
  // Bound under umask 077 so the socket is never reachable by others, even before the chmod.
  const mode_t old = ::umask(077);
  const int b = ::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  const int be = errno;
  ::umask(old);
  if (b != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(fd, 16) != 0) {
    const int e = b != 0 ? be : errno;
    ::close(fd);
    ::unlink(path.c_str());
    return make_error(Errc::io_error, "cannot listen on the writer socket '" + path.string() + "': " + errno_text(e));
  }
  state->listen_fd = fd;
  if (::pipe2(state->wake, O_CLOEXEC) != 0) {
    ::close(fd);
    ::unlink(path.c_str());
    return make_error(Errc::io_error, "pipe: " + errno_text(errno));
  }
  State* s = state.get();
  state->acceptor = std::thread([s] { s->accept_loop(); });
  std::unique_ptr<WriterChannelServer> server(new WriterChannelServer(std::move(state)));
  server->path_ = path;
  return server;
}

void WriterChannelServer::stop() {
  if (!state_ || state_->listen_fd < 0) return;
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  char c = 1;
  (void)!::write(state_->wake[1], &c, 1);
  if (state_->acceptor.joinable()) state_->acceptor.join();
  ::unlink(path_.c_str());
  // Wake every connection blocked on a read; one in the middle of an append finishes it first
  // (the recorder is still running) and then finds its socket shut.
  {
    std::lock_guard lock(state_->mu);
    for (auto& c : state_->conns) ::shutdown(c.fd, SHUT_RD);
  }
  for (auto& c : state_->conns) {
    if (c.thread.joinable()) c.thread.join();
    ::close(c.fd);
  }
  state_->conns.clear();
  ::close(state_->listen_fd);
  ::close(state_->wake[0]);
  ::close(state_->wake[1]);
  state_->listen_fd = -1;
}

WriterChannelServer::~WriterChannelServer() { stop(); }

std::uint64_t WriterChannelServer::batches() const { return state_ ? state_->batches.load() : 0; }

}  // namespace fixhost::host
