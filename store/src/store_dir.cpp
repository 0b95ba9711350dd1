#include "store_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace fixhost::store::detail {



std::string q(const fs::path& p) {
  std::string s(1, '\'');
  s += p.string();
  s += '\'';
  return s;
}

std::string errno_text(int e) { return std::strerror(e); }

Status damaged(const fs::path& dir, const std::string& what) {
  return make_error(Errc::corruption, "store " + q(dir) + " is damaged (" + what +
                                          "); copy it aside and run 'hostctl repair --store " + dir.string() + "'");
}

Status not_found_store(const fs::path& dir) {
  return make_error(Errc::not_found, "no fixhost store at " + q(dir) +
                                         "; run 'hostctl detect' in the repository to record one, or pass "
                                         "--store DIR / FIXHOST_STORE");
}

// Maps a RocksDB status; `doing` says what the store was doing ("opening", "reading event 12").
Status from_rocks(const rocksdb::Status& s, const fs::path& dir, const std::string& doing) {
  if (s.ok()) return Status::ok();
  if (s.IsCorruption()) return damaged(dir, doing + ": " + s.ToString());
  const std::string text = s.ToString();
  if (s.IsPathNotFound() || (s.IsIOError() && text.find("No such file") != std::string::npos))
    return damaged(dir, doing + ": a file is missing: " + text);
  if (s.IsNotSupported()) return make_error(Errc::unsupported, "store " + q(dir) + ": " + doing + ": " + text);
  if (s.IsInvalidArgument() && text.find("does not exist") != std::string::npos)
    return damaged(dir, doing + ": " + text);
  return make_error(Errc::io_error, "store " + q(dir) + ": " + doing + " failed: " + text);
}

std::string utc_time(std::int64_t us) {
  std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// ---- the marker ---------------------------------------------------------------------------

// Ok when `dir` holds a marker of a format this build reads.
Status check_marker(const fs::path& dir) {
  std::ifstream in(dir / k_marker_file);
  if (!in) return make_error(Errc::io_error, "store " + q(dir) + ": cannot read " + k_marker_file);
  std::string name;
  long version = 0;
  in >> name >> version;
  if (name != k_format_name || version <= 0)
    return damaged(dir, std::string(k_marker_file) + " does not read '" + std::string(k_format_name) + " <version>'");
  if (version > k_format_version)
    return make_error(Errc::unsupported, "store " + q(dir) + " has format version " + std::to_string(version) +
                                             " but this fixhost reads up to " + std::to_string(k_format_version) +
                                             "; upgrade fixhost to open it");
  return Status::ok();
}

Status sync_path(const fs::path& p, int flags) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::io_error, "cannot open " + q(p) + " to sync it: " + errno_text(errno));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return make_error(Errc::io_error, "cannot sync " + q(p) + ": " + errno_text(e));
  return Status::ok();
}

Status write_marker(const fs::path& dir) {
  const fs::path p = dir / k_marker_file;
  {
    std::ofstream out(p, std::ios::trunc);
    out << k_format_name << ' ' << k_format_version << '\n';
    out.flush();
    if (!out) return make_error(Errc::io_error, "cannot write " + q(p));
  }
  if (auto s = sync_path(p, O_RDONLY); !s) return s;
  return sync_path(dir, O_RDONLY | O_DIRECTORY);
}

Status write_ignore(const fs::path& dir) {
  const fs::path p = dir / k_ignore_file;
  std::error_code ec;
  if (fs::exists(p, ec)) return Status::ok();
  const fs::path tmp = dir / (std::string(k_ignore_file) + ".tmp." + std::to_string(::getpid()));
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "# fixhost's event store and run worktrees: never part of the repository\n*\n";
    out.flush();
    if (!out) return make_error(Errc::io_error, "cannot write " + q(tmp));
  }
  fs::rename(tmp, p, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return make_error(Errc::io_error, "cannot create " + q(p) + ": " + ec.message());
  }
  return Status::ok();
}

// ---- the writer lock ----------------------------------------------------------------------

std::optional<WriterInfo> parse_lock(const std::string& text) {
  WriterInfo w;
  std::istringstream in(text);
  std::string line;
  bool any = false;
  while (std::getline(in, line)) {
    auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    std::string key = line.substr(0, sp), val = line.substr(sp + 1);
    try {
      if (key == "pid") w.pid = std::stoi(val), any = true;
      else if (key == "holder") w.holder = val;
      else if (key == "since_us") w.since_us = std::stoll(val);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (!any) return std::nullopt;
  return w;
}

std::string read_fd(int fd) {
  std::string text;
  char buf[512];
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return text;
}

// Reads the holder of a lock someone else holds; the new holder may still be writing it.
std::optional<WriterInfo> read_holder(int fd) {
  for (int i = 0; i < 50; ++i) {
    if (auto w = parse_lock(read_fd(fd))) return w;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return std::nullopt;
}

std::optional<WriterInfo> live_writer(const fs::path& dir) {
  const fs::path p = dir / k_lock_file;
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<WriterInfo> w;
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);  // nobody holds it
  } else if (errno == EWOULDBLOCK) {
    w = read_holder(fd).value_or(WriterInfo{0, "unknown", 0});
  }
  ::close(fd);
  return w;
}

Status busy(const fs::path& dir, const std::optional<WriterInfo>& w) {
  if (!w)
    return make_error(Errc::busy, "store " + q(dir) +
                                      " is being written by another process (its lock file " + k_lock_file +
                                      " names none); wait for it to finish or stop it");
  return make_error(Errc::busy, "store " + q(dir) + " is being written by " + w->holder + " (pid " +
                                    std::to_string(w->pid) + ", since " + utc_time(w->since_us) +
                                    "); wait for it to finish or stop it (kill " + std::to_string(w->pid) + ")");
}

Result<int> take_lock(const fs::path& dir, const std::string& holder, WriterInfo& me) {
  const fs::path p = dir / k_lock_file;
  int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;
    std::string fix;
    if (e == EACCES || e == EROFS || e == EPERM)
      fix = "; writing needs a writable store directory: make it writable (chmod -R u+w " + dir.string() +
            ") or run as its owner (events, runs and stats only read it)";
    return make_error(Errc::io_error, "store " + q(dir) + ": cannot open " + q(p) + ": " + errno_text(e) + fix);
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      auto w = read_holder(fd);
      ::close(fd);
      return busy(dir, w);
    }
    ::close(fd);
    return make_error(Errc::io_error, "store " + q(dir) + ": cannot lock " + q(p) + ": " + errno_text(e));
  }
  me.pid = static_cast<int>(::getpid());
  me.holder = holder;
  std::replace(me.holder.begin(), me.holder.end(), '\n', ' ');
  me.since_us = events::now_us();
  std::string text = "pid " + std::to_string(me.pid) + "\nholder " + me.holder + "\nsince_us " +
                     std::to_string(me.since_us) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    int e = errno;
    ::close(fd);
    return make_error(Errc::io_error, "store " + q(dir) + ": cannot write " + q(p) + ": " + errno_text(e));
  }
  return fd;
}


// ---- the high-water mark ------------------------------------------------------------------

namespace {
constexpr std::size_t k_high_water_bytes = 42;  // "%020llu %020llu\n"

std::optional<std::uint64_t> parse_high_water(const std::string& text) {
  if (text.size() != k_high_water_bytes || text[20] != ' ' || text[41] != '\n') return std::nullopt;
  if (text.compare(0, 20, text, 21, 20) != 0) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  return v;
}
}  // namespace

Result<std::optional<std::uint64_t>> read_high_water(const fs::path& dir) {
  const fs::path p = dir / k_high_water_file;
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::uint64_t>();
    return make_error(Errc::io_error, "store " + q(dir) + ": cannot open " + q(p) + ": " + errno_text(errno));
  }
  std::string text;
  for (int attempt = 0; attempt < 20; ++attempt) {
    text = read_fd(fd);
    if (auto v = parse_high_water(text)) {
      ::close(fd);
      return std::optional<std::uint64_t>(*v);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a writer may be rewriting it
  }
  ::close(fd);
  return damaged(dir, std::string(k_high_water_file) + " does not hold a high-water mark");
}

Result<int> open_high_water(const fs::path& dir) {
  const fs::path p = dir / k_high_water_file;
  int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::io_error, "store " + q(dir) + ": cannot open " + q(p) + ": " + errno_text(errno));
  return fd;
}

Status write_high_water(int fd, std::uint64_t seq, const fs::path& dir, bool sync) {
  char buf[k_high_water_bytes + 1];
  std::snprintf(buf, sizeof buf, "%020llu %020llu\n", static_cast<unsigned long long>(seq),
                static_cast<unsigned long long>(seq));
  if (::pwrite(fd, buf, k_high_water_bytes, 0) != static_cast<ssize_t>(k_high_water_bytes) ||
      (sync && ::fdatasync(fd) != 0))
    return make_error(Errc::io_error, "store " + q(dir) + ": cannot write " + q(dir / k_high_water_file) + ": " +
                                          errno_text(errno));
  return Status::ok();
}

// ---- seq ranges ---------------------------------------------------------------------------

std::optional<std::vector<SeqRange>> parse_ranges(std::string_view text) {
  std::vector<SeqRange> out;
  std::size_t i = 0;
  auto number = [&](std::uint64_t& v) {
    const std::size_t start = i;
    v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') v = v * 10 + static_cast<std::uint64_t>(text[i++] - '0');
    return i > start && i - start <= 19;
  };
  while (i < text.size()) {
    SeqRange r;
    if (!number(r.first)) return std::nullopt;
    r.last = r.first;
    if (i < text.size() && text[i] == '-') {
      ++i;
      if (!number(r.last) || r.last < r.first) return std::nullopt;
    }
    if (!out.empty() && r.first <= out.back().last) return std::nullopt;
    out.push_back(r);
    if (i < text.size() && text[i++] != ',') return std::nullopt;
  }
  return out;
}

std::string format_ranges(const std::vector<SeqRange>& ranges) {
  std::string out;
  for (const auto& r : ranges) {
    if (!out.empty()) out += ',';
    out += std::to_string(r.first);
    if (r.last != r.first) out += "-" + std::to_string(r.last);
  }
  return out;
}

}  // namespace fixhost::store::detail
