// [heal] in fixhost.toml: defaults, values, errors naming the key, exclude handed to sentry_triage.
#include <doctest/doctest.h>

#include "fixhost/host/config.hpp"
#include "fixhost/test/files.hpp"

using namespace fixhost;
using fixhost::test::TempDir;
using fixhost::test::write_file;

namespace {
Result<host::Config> load(const std::string& toml) {
  TempDir dir("fixhost-heal-config");
  write_file(dir.path() / "fixhost.toml", toml);
  write_file(dir.path() / "test_x.py", "def test_x():\n    pass\n");
  return host::load_config(dir.path(), false);
}
}  // namespace

TEST_CASE("heal config: defaults and values") {
  auto d = load("");
  REQUIRE(d.is_ok());
  CHECK(d->heal.listen == "127.0.0.1:8765");
  CHECK(d->heal.max_event_bytes == 1u << 20);
  CHECK(d->heal.max_request_bytes == 20u << 20);
  CHECK(d->heal.max_errors_per_hour == 100);
  CHECK(d->heal.webhook_tolerance.count() == 300);
  CHECK(d->heal.ingest_keys.empty());
  CHECK(d->plugin_config.count("sentry_triage") == 0);

  auto c = load(R"(
[heal]
ingest_keys = ["a", "b"]
listen = "0.0.0.0:9000"
max_errors_per_hour = 7
webhook_tolerance = "90s"
exclude = ["vendor/**"]
max_fixes = 2
report_webhook = "http://127.0.0.1:1/hook"
[plugins.sentry_triage]
exclude_paths = ["generated/**"]
)");
  REQUIRE_MESSAGE(c.is_ok(), c.status().to_string());
  CHECK(c->heal.ingest_keys == std::vector<std::string>{"a", "b"});
  CHECK(c->heal.listen == "0.0.0.0:9000");
  CHECK(c->heal.max_errors_per_hour == 7);
  CHECK(c->heal.webhook_tolerance.count() == 90);
  CHECK(c->heal.max_fixes == 2);
  const std::string& t = c->plugin_config["sentry_triage"];
  CHECK(t.find("vendor/**") != std::string::npos);
  CHECK(t.find("generated/**") != std::string::npos);  // both lists, merged
}

TEST_CASE("heal config: errors name the key") {
  auto unknown = load("[heal]\ningest_key = [\"a\"]\n");
  REQUIRE(!unknown.is_ok());
  CHECK(unknown.status().message().find("heal.ingest_key") != std::string::npos);
  auto type = load("[heal]\nmax_errors_per_hour = \"many\"\n");
  CHECK(type.status().message().find("heal.max_errors_per_hour") != std::string::npos);
  auto order = load("[heal]\nmax_event_bytes = 100\nmax_request_bytes = 10\n");
  CHECK(order.status().message().find("max_event_bytes") != std::string::npos);
  auto table = load("heal = 3\n");
  CHECK(table.status().message().find("[heal]") != std::string::npos);
}
