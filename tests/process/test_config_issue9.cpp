// Issue 9, item 9 (fuzzing): what fuzz_config found in load_config.
#include <unistd.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "fixhost/host/config.hpp"

using namespace fixhost;
using namespace fixhost::host;
namespace fs = std::filesystem;

TEST_CASE("issue 9: a duration too long for a long long is an error, not signed overflow") {
  // fuzz/corpus/config/crash-issue9-duration.toml: UBSan "signed integer overflow:
  // 1000000000000000000 * 10" in parse_duration.
  for (const char* d : {"0010000000000000000000A0000", "99999999999999999999s", "9223372036854775807s",
                        "106751991167300d", "3153600001s", "36501d1s"}) {
    CAPTURE(d);
    auto r = parse_duration(d);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Errc::invalid_argument);
  }
  CHECK(parse_duration("99999999999999999999s").status().message().find("longer than 100 years") !=
        std::string::npos);
  // The longest accepted and the ordinary ones still read.
  CHECK(parse_duration("36500d").value() == std::chrono::seconds(3153600000LL));
  CHECK(parse_duration("1h30m").value() == std::chrono::seconds(5400));
  CHECK(parse_duration("90").value() == std::chrono::seconds(90));

  fs::path dir = fs::temp_directory_path() / ("fixhost-cfg9-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "fixhost.toml") << "[budget]\nrun = \"0010000000000000000000A00000000000000000000\"\n";
  auto c = load_config(dir, false);
  fs::remove_all(dir);
  REQUIRE_FALSE(c.is_ok());
  CHECK(c.status().message().find("budget.run") != std::string::npos);
}
