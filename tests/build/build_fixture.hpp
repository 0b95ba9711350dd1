#pragma once
// A fixture repository with a Python backend (pytest) and a TypeScript frontend (tsc), a
// contract (contract/openapi.json and the generated frontend/src/api/types.ts, checked by
// contract/check.py as openapi-typescript --check would), and scripted stream agents
// (examples/agents/stream_agent.py) driven by a scenario.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "fixhost/test/repo.hpp"

namespace fixhost::test::build {

// The contract check is the demo's own (examples/build/demo/contract/check.py).
inline std::string check_py() { return read_file(std::filesystem::path(FIXHOST_SOURCE_DIR) / "examples/build/demo/contract/check.py"); }

inline const std::string k_openapi_v1 =
    R"({"components": {"schemas": {"Health": {"properties": {"status": {"type": "string"}}}}}})";
inline const std::string k_types_v1 = "export interface Health {\n  status: string;\n}\n";
inline const std::string k_openapi_v2 =
    R"({"components": {"schemas": {"Health": {"properties": {"status": {"type": "string"}}}, )"
    R"("Order": {"properties": {"id": {"type": "integer"}, "total": {"type": "number"}}}}}})";
inline const std::string k_types_v2 = k_types_v1 + "\nexport interface Order {\n  id: number;\n  total: number;\n}\n";

inline std::string package_json() {
  std::string s = "{\n  \"name\": \"shop\",\n  \"scripts\": {\n    \"start\": \"node index.js\"\n  },\n";
  for (int i = 0; i < 8; ++i) s += "  \"field" + std::to_string(i) + "\": " + std::to_string(i) + ",\n";
  return s + "  \"version\": \"1.0.0\"\n}\n";
}

inline std::map<std::string, std::string> fixture_files() {
  return {
      {".gitignore", "__pycache__/\n.pytest_cache/\n"},
      {"fixhost.toml", "flaky_reruns = 0\n\n[[suites]]\nname = \"py\"\nrunner = \"pytest\"\n"
                       "command = [\"/usr/bin/python3\", \"-m\", \"pytest\", \"tests\"]\n"},
      {"pytest.ini", "[pytest]\npythonpath = .\n"},
      {"backend/__init__.py", ""},
      {"backend/app.py", "def health():\n    return {\"status\": \"ok\"}\n"},
      {"tests/test_app.py", "from backend.app import health\n\n\ndef test_health():\n    assert health()[\"status\"] == \"ok\"\n"},
      {"frontend/tsconfig.json",
       R"({"compilerOptions": {"strict": true, "noEmit": true, "target": "es2017", "module": "commonjs"}, "include": ["src/**/*.ts"]})"
       "\n"},
      {"frontend/src/api/types.ts", k_types_v1},
      {"frontend/src/main.ts", "import { Health } from \"./api/types\";\n\nexport const h: Health = { status: \"ok\" };\n"},
      {"contract/openapi.json", k_openapi_v1 + "\n"},
      {"contract/check.py", check_py()},
      {"package.json", package_json()},
      {"docs/specs/orders.md", "# Order history\n\nList a customer's orders with their totals.\n"},
  };
}

inline std::string agent_command() {
  return "/usr/bin/python3 " + std::string(FIXHOST_SOURCE_DIR) + "/examples/agents/stream_agent.py";
}

// The issue's four streams; `extra` per stream id is appended inside its [[streams]] table.
inline std::string manifest(const std::map<std::string, std::string>& extra = {}, const std::string& tail = "") {
  auto x = [&](const std::string& id) {
    auto it = extra.find(id);
    return it == extra.end() ? std::string() : it->second + "\n";
  };
  return "feature = \"order history\"\nspec = \"docs/specs/orders.md\"\n\n[build]\nagent = \"" + agent_command() +
         "\"\nstream_budget_s = 60\n\n"
         "[[streams]]\nid = \"contract\"\nrole = \"contract\"\nowns = [\"contract/**\", \"frontend/src/api/types.ts\"]\n" +
         x("contract") +
         "\n[[streams]]\nid = \"backend\"\nrole = \"backend\"\nowns = [\"backend/**\"]\nshared = [\"package.json\"]\n"
         "depends_on = [\"contract\"]\n" +
         x("backend") +
         "\n[[streams]]\nid = \"frontend\"\nrole = \"frontend\"\nowns = [\"frontend/**\"]\nshared = [\"package.json\"]\n"
         "depends_on = [\"contract\"]\n" +
         x("frontend") +
         "\n[[streams]]\nid = \"tests\"\nrole = \"tests\"\nowns = [\"tests/**\"]\ndepends_on = [\"backend\", \"frontend\"]\n" +
         x("tests") +
         "\n[integration]\ncommands = [[\"/usr/bin/python3\", \"-m\", \"pytest\", \"-q\", \"-p\", \"no:cacheprovider\", "
         "\"tests\"], [\"/usr/bin/tsc\", \"--noEmit\", \"-p\", \"frontend\"]]\n"
         "contract_check = [\"/usr/bin/python3\", \"contract/check.py\"]\n" +
         tail;
}

// The scenario of a correct build: the contract adds Order, backend and frontend implement it
// in parallel (1 s each), tests last.
inline nlohmann::json good_scenario() {
  return {
      {"contract",
       {{"sleep", 0.2},
        {"write", {{"contract/openapi.json", k_openapi_v2 + "\n"}, {"frontend/src/api/types.ts", k_types_v2}}},
        {"summary", "Order in the contract"}}},
      {"backend",
       {{"sleep", 1.0},
        {"write", {{"backend/orders.py", "def order_history():\n    return [{\"id\": 1, \"total\": 2.5}]\n"}}},
        {"summary", "order_history() in the backend"}}},
      {"frontend",
       {{"sleep", 1.0},
        {"write",
         {{"frontend/src/orders.ts", "import { Order } from \"./api/types\";\n\nexport function total(orders: Order[]): "
                                     "number {\n  return orders.reduce((s, o) => s + o.total, 0);\n}\n"}}},
        {"summary", "total() over Order[]"}}},
      {"tests",
       {{"write", {{"tests/test_orders.py", "from backend.orders import order_history\n\n\ndef test_orders():\n    "
                                            "assert order_history()[0][\"id\"] == 1\n"}}},
        {"summary", "a test of order_history"}}},
  };
}

// Every tracked and untracked file of the checkout (outside .git and the store) with its bytes.
inline std::map<std::string, std::string> checkout_bytes(const std::filesystem::path& dir) {
  std::map<std::string, std::string> out;
  for (auto it = std::filesystem::recursive_directory_iterator(dir); it != std::filesystem::recursive_directory_iterator();
       ++it) {
    auto rel = std::filesystem::relative(it->path(), dir).generic_string();
    if (rel == ".git" || rel == ".fixhost") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) out[rel] = read_file(it->path());
  }
  return out;
}

struct BuildRepo : GitRepo {
  BuildRepo() : GitRepo(fixture_files(), "fixhost-build") {}
  Ran build(const nlohmann::json& scenario, const std::string& manifest_text, std::vector<std::string> extra = {}) const {
    write_file(manifest_path(), manifest_text);
    std::vector<std::string> args = {"build", "--json", "--manifest", manifest_path().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return hostctl(args, {{"BUILD_SCENARIO", scenario.dump()}});
  }
  // Beside the checkout, so that the checkout stays exactly as committed.
  std::filesystem::path manifest_path() const { return dir().string() + ".build.toml"; }
  ~BuildRepo() {
    std::error_code ec;
    std::filesystem::remove(manifest_path(), ec);
  }
  std::string rev(const std::string& what) const {
    auto out = git({"rev-parse", "--verify", "-q", what});
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  bool has_branch(const std::string& b) const {
    return !run_in(dir(), {"git", "rev-parse", "--verify", "-q", "refs/heads/" + b}).out.empty();
  }
};

}  // namespace fixhost::test::build
