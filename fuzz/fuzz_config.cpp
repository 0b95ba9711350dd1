// fixhost.toml: the input is written as <tmp>/fixhost.toml and read with load_config(dir, false)
// (no Python probing: nothing is run). The directory holds nothing else, so suite detection
// finds nothing and every path taken is the file's.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fixhost/host/config.hpp"
#include "fuzz_input.hpp"

namespace {

namespace fs = std::filesystem;

// One directory per process, removed at exit (libFuzzer ends some runs with _Exit: then not); on tmpfs (/dev/shm) when there is one, since on
// ext4 rewriting a file flushes it to disk on close and that costs more than the parse.
const fs::path& repo_dir() {
  static const fs::path dir = [] {
    std::error_code ec;
    const char* env = std::getenv("FIXHOST_FUZZ_TMPDIR");  // scripts/fuzz.sh sets it and cleans up
    fs::path base = env && *env                      ? fs::path(env)
                    : fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm")
                                                       : fs::temp_directory_path();
    std::string tmpl = (base / "fixhost-fuzz-config-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(repo_dir(), ec);
    });
    return fs::path(tmpl);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path& dir = repo_dir();
  {
    ::unlink((dir / "fixhost.toml").c_str());  // a new file, not a truncated one (see repo_dir)
    std::ofstream out(dir / "fixhost.toml", std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) std::abort();
  }
  auto config = fixhost::host::load_config(dir, false);
  (void)config;
  return 0;
}
