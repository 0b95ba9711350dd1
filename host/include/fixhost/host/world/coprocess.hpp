#pragma once
// A long-lived child process spoken to in lines: its stdin and stdout are one end of a Unix
// socket pair (so a dead child is an error, never a SIGPIPE), its stderr is kept (the last few
// KiB) for error messages. It runs in its own process group, which stop() kills. One thread at
// a time; the destructor stops it.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::host {

class Coprocess {
 public:
  // Starts argv[0] (looked up on PATH) in `cwd`. Errors: NotFound when it cannot be executed
  // (the exec error is in the message), IOError when sockets or fork fail.
  static Result<std::unique_ptr<Coprocess>> start(const std::vector<std::string>& argv, const std::filesystem::path& cwd);
  ~Coprocess();
  Coprocess(const Coprocess&) = delete;
  Coprocess& operator=(const Coprocess&) = delete;

  // Sends `out` (whole lines) while reading until `want` more lines have arrived; each line must
  // arrive within `deadline` of the previous one (or of the call). Lines go to `lines` without
  // their '\n'. Errors: Timeout (hang), IOError (it closed its stdout or died), InvalidArgument
  // (a line longer than `max_line` bytes).
  Status exchange(std::string_view out, std::size_t want, std::vector<std::string>& lines,
                  std::chrono::milliseconds deadline, std::size_t max_line = 64u << 20);
  // The same, with what to send made as it goes: `more(buf)` appends the next lines to `buf`
  // when all before them are sent, and returns false when there is nothing left, so the child
  // works on the first lines while the rest are made.
  Status exchange(const std::function<bool(std::string&)>& more, std::size_t want, std::vector<std::string>& lines,
                  std::chrono::milliseconds deadline, std::size_t max_line = 64u << 20);

  // Closes its stdin, gives it `grace` to exit, then kills its group and reaps it. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(1000));
  bool running() const { return pid_ > 0; }
  // "exited with code 3", "was killed by signal 11", or "is running".
  std::string exit_description();
  // The last bytes it wrote to stderr, trimmed, "" when none.
  std::string stderr_tail();

 private:
  Coprocess() = default;
  void drain_stderr();
  bool reap(bool block);

  int pid_ = -1;
  int sock_ = -1;
  int err_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string in_;   // bytes read but not yet a whole line
  std::string err_tail_;
};

}  // namespace fixhost::host
