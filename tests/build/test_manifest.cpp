// build.toml: what parses, and that each mistake is refused with one line naming the stream
// and the key; the templates under examples/build/ are valid manifests.
#include <doctest/doctest.h>

#include <string>

#include "fixhost/host/build/manifest.hpp"

namespace b = fixhost::host::build;

namespace {

const std::string k_good = R"(
feature = "order history page"
spec = "docs/specs/order-history.md"

[[streams]]
id = "contract"
role = "contract"
owns = ["contract/**", "frontend/src/api/types.ts"]
agent = "sh agent.sh"
prompt = "Define the OrderHistory types"

[[streams]]
id = "backend"
role = "backend"
owns = ["backend/**"]
shared = ["package.json"]
depends_on = ["contract"]
agent = "sh agent.sh"
[streams.check]
command = ["python3", "-m", "pytest", "backend"]

[[streams]]
id = "frontend"
role = "frontend"
owns = ["frontend/**"]
shared = ["package.json"]
depends_on = ["contract"]
agent = "sh agent.sh"

[[streams]]
id = "tests"
role = "tests"
owns = ["tests/**", "e2e/**"]
depends_on = ["backend", "frontend"]
agent = "sh agent.sh"

[integration]
commands = [["python3", "-m", "pytest"], ["npx", "tsc", "--noEmit", "-p", "frontend"]]
contract_check = ["npx", "openapi-typescript", "contract/openapi.json", "-o", "frontend/src/api/types.ts", "--check"]
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

std::string refusal(const std::string& text, std::string_view agent = "") {
  auto m = b::parse_manifest(text, "build.toml", agent);
  REQUIRE_FALSE(m.is_ok());
  std::string msg = m.status().message();
  CHECK(msg.find('\n') == std::string::npos);  // one line
  CHECK(msg.rfind("build.toml:", 0) == 0);
  return msg;
}

}  // namespace

TEST_CASE("the issue's manifest parses: streams, order, ownership, integration") {
  auto m = b::parse_manifest(k_good, "build.toml");
  REQUIRE_MESSAGE(m.is_ok(), m.status().message());
  CHECK(m->feature == "order history page");
  CHECK(m->streams.size() == 4);
  CHECK(m->order() == std::vector<std::string>{"contract", "backend", "frontend", "tests"});
  REQUIRE(m->contract());
  CHECK(m->contract()->id == "contract");
  CHECK(m->find("backend")->check == std::vector<std::string>{"python3", "-m", "pytest", "backend"});
  CHECK(m->find("backend")->budget_s == 600);
  REQUIRE(m->commands.size() == 2);
  CHECK(m->commands[0].kind == "tests");
  CHECK(m->commands[1].kind == "types");
  CHECK(m->contract_check.size() == 6);

  const auto& fe = *m->find("frontend");
  CHECK(b::may_write(*m, fe, "frontend/src/App.tsx"));
  CHECK_FALSE(b::may_write(*m, fe, "frontend/src/api/types.ts"));  // the contract owns it
  CHECK(b::may_write(*m, *m->contract(), "frontend/src/api/types.ts"));
  CHECK(b::may_write(*m, fe, "package.json"));
  CHECK_FALSE(b::may_write(*m, fe, "backend/app.py"));
  CHECK(b::owner_of(*m, "frontend/src/api/types.ts")->id == "contract");
  CHECK(b::owner_of(*m, "backend/app.py")->id == "backend");
  CHECK(b::owner_of(*m, "README.md") == nullptr);

  // Round trip through to_toml.
  auto again = b::parse_manifest(b::to_toml(*m), "again.toml");
  REQUIRE_MESSAGE(again.is_ok(), again.status().message());
  CHECK(again->order() == m->order());
  CHECK(again->find("frontend")->shared == fe.shared);
  CHECK(again->commands[1].kind == "types");
}

TEST_CASE("each mistake is one line naming the stream and the key") {
  SUBCASE("a cycle") {
    auto t = replace(k_good, "depends_on = [\"contract\"]\nagent = \"sh agent.sh\"\n[streams.check]",
                     "depends_on = [\"tests\"]\nagent = \"sh agent.sh\"\n[streams.check]");
    auto msg = refusal(t);
    CHECK(msg.find("depends_on: dependency cycle") != std::string::npos);
    CHECK(msg.find("backend -> tests -> backend") != std::string::npos);
  }
  SUBCASE("an unknown dependency") {
    auto msg = refusal(replace(k_good, "depends_on = [\"backend\", \"frontend\"]", "depends_on = [\"backend\", \"fronted\"]"));
    CHECK(msg == "build.toml: stream 'tests': depends_on: unknown stream 'fronted'; the streams are contract, backend, "
                 "frontend, tests");
  }
  SUBCASE("two streams owning the same path") {
    auto msg = refusal(replace(k_good, "owns = [\"tests/**\", \"e2e/**\"]", "owns = [\"tests/**\", \"backend/api/*.py\"]"));
    CHECK(msg == "build.toml: stream 'tests': owns: 'backend/api/*.py' overlaps 'backend/**' of stream 'backend'; give "
                 "each path one owner, or list it in `shared` of both");
  }
  SUBCASE("a shared path only one of them lists as shared") {
    auto t = replace(k_good, "owns = [\"tests/**\", \"e2e/**\"]", "owns = [\"tests/**\", \"e2e/**\", \"package.json\"]");
    auto msg = refusal(t);
    CHECK(msg.find("stream 'backend': shared: 'package.json' is owned by stream 'tests'") != std::string::npos);
  }
  SUBCASE("the contract stream's overlap is allowed") {
    auto m = b::parse_manifest(k_good, "build.toml");
    CHECK(m.is_ok());  // contract owns frontend/src/api/types.ts inside frontend/**
  }
  SUBCASE("a stream with no owns") {
    auto msg = refusal(replace(k_good, "owns = [\"tests/**\", \"e2e/**\"]", "owns = []"));
    CHECK(msg.find("build.toml: stream 'tests': owns: missing or empty") == 0);
  }
  SUBCASE("a missing agent") {
    auto t = replace(k_good, "depends_on = [\"backend\", \"frontend\"]\nagent = \"sh agent.sh\"",
                     "depends_on = [\"backend\", \"frontend\"]");
    auto msg = refusal(t);
    CHECK(msg.find("build.toml: stream 'tests': agent: missing") == 0);
    // ... which --agent (or [build] agent) fills in.
    auto m = b::parse_manifest(t, "build.toml", "sh default.sh");
    REQUIRE(m.is_ok());
    CHECK(m->find("tests")->agent == "sh default.sh");
  }
  SUBCASE("an unknown key") {
    auto msg = refusal(replace(k_good, "role = \"tests\"", "role = \"tests\"\nown = [\"x\"]"));
    CHECK(msg.find("stream 'tests': own: unknown key") != std::string::npos);
  }
  SUBCASE("a path inside .git or outside the repository") {
    CHECK(refusal(replace(k_good, "\"e2e/**\"", "\".git/hooks/*\"")).find("inside .git") != std::string::npos);
    CHECK(refusal(replace(k_good, "\"e2e/**\"", "\"../elsewhere/**\"")).find("leaves the repository") != std::string::npos);
  }
  SUBCASE("a duplicate id") {
    auto msg = refusal(replace(k_good, "id = \"tests\"", "id = \"backend\""));
    CHECK(msg.find("stream 'backend': id: two streams have this id") != std::string::npos);
  }
  SUBCASE("bad TOML names the line") {
    auto msg = refusal("feature = \"x\"\n[[streams]\n");
    CHECK(msg.find("build.toml:2:") == 0);
  }
  SUBCASE("a control character (found by fuzzing: toml++ asserts on a NUL in a table header)") {
    std::string text = "feature = \"x\"\n[[streams]]\nid = \"a\"\nowns = [\"a/**\"]\n[\x01";
    text.push_back('\0');
    text += "eams]]\n";
    CHECK(refusal(text) == "build.toml: control character 0x01 at byte 52; a manifest is UTF-8 text (escape it inside a string)");
  }
  SUBCASE("a contract check without a contract stream") {
    auto msg = refusal("feature = \"x\"\n[[streams]]\nid = \"a\"\nowns = [\"a/**\"]\nagent = \"sh a.sh\"\n"
                       "[integration]\ncontract_check = [\"true\"]\n");
    CHECK(msg == "build.toml: integration.contract_check: set, but no stream has role \"contract\"; add one or drop the check");
    // Without a contract stream, the overlap is an error like any other.
    auto overlap = refusal(replace(k_good, "role = \"contract\"", "role = \"api\""));
    CHECK(overlap.find("stream 'frontend': owns: 'frontend/**' overlaps 'frontend/src/api/types.ts' of stream 'contract'") !=
          std::string::npos);
  }
}

TEST_CASE("globs overlap when a path can match both") {
  CHECK(b::globs_overlap("backend/**", "backend/**"));
  CHECK(b::globs_overlap("backend/**", "backend/app.py"));
  CHECK(b::globs_overlap("backend/*.py", "backend/**"));
  CHECK(b::globs_overlap("package.json", "package.json"));
  CHECK_FALSE(b::globs_overlap("backend/**", "frontend/**"));
  CHECK_FALSE(b::globs_overlap("tests/**", "e2e/**"));
  CHECK(b::globs_overlap("src/*.ts", "src/*.tsx", {}) == false);
  CHECK(b::globs_overlap("src/a*", "src/*b", {"src/ab"}));  // only a tracked file shows it
}

TEST_CASE("the templates under examples/build/ are valid manifests with the feature filled in") {
  const std::filesystem::path dir = std::string(FIXHOST_SOURCE_DIR) + "/examples/build";
  for (const auto& name : b::template_names()) {
    CAPTURE(name);
    auto text = b::render_template(dir, name, "order \"history\" page");
    REQUIRE_MESSAGE(text.is_ok(), text.status().message());
    auto m = b::parse_manifest(*text, name + ".toml", "sh agent.sh");
    REQUIRE_MESSAGE(m.is_ok(), m.status().message());
    CHECK(m->feature == "order \"history\" page");
    CHECK(m->streams.size() == 4);
    CHECK(m->order().back() == "tests");
  }
  auto missing = b::render_template(dir, "no-such", "x");
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().message().find("api-endpoint, ui-feature, data-model") != std::string::npos);
}

TEST_CASE("[build] resolver: a command string as a stream's agent, or an argv array quoted for /bin/sh") {
  auto s = b::parse_manifest(replace(k_good, "[[streams]]", "[build]\nresolver = \"python3 resolve.py\"\n\n[[streams]]"),
                             "build.toml");
  REQUIRE_MESSAGE(s.is_ok(), s.status().message());
  CHECK(s->resolver == "python3 resolve.py");
  auto a = b::parse_manifest(
      replace(k_good, "[[streams]]", "[build]\nresolver = [\"python3\", \"it's.py\"]\n\n[[streams]]"), "build.toml");
  REQUIRE_MESSAGE(a.is_ok(), a.status().message());
  CHECK(a->resolver == "'python3' 'it'\\''s.py'");
  auto again = b::parse_manifest(b::to_toml(*a), "build.toml");  // --plan-only's TOML reads back the same
  REQUIRE_MESSAGE(again.is_ok(), again.status().message());
  CHECK(again->resolver == a->resolver);
  auto bad = refusal(replace(k_good, "[[streams]]", "[build]\nresolver = 3\n\n[[streams]]"));
  CHECK(bad.find("build.resolver") != std::string::npos);
  CHECK(refusal(replace(k_good, "[[streams]]", "[build]\nresolver = [\"python3\", 4]\n\n[[streams]]")).find("build.resolver") !=
        std::string::npos);
}
