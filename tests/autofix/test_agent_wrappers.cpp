// examples/agents/{claude,codex,aider}.sh write FIXHOST_USAGE_FILE from their tool's own output
// (docs/USAGE.md). Each runs here with a stand-in `claude`/`codex`/`aider` on PATH that prints
// what the real tool prints (shapes from their docs and issue trackers: claude -p
// --output-format json's result object, codex exec --json's JSON lines, aider's Tokens/Cost lines).
#include "project.hpp"

using namespace fixhost::test;

namespace {

struct Wrapped {
  Cmd run;
  nlohmann::json usage;  // null when no usage file was written
  std::string summary;
};

// Runs examples/agents/<tool>.sh in a git repository, with `tool` on PATH printing `output`.
Wrapped run_wrapper(const std::string& tool, const std::string& output, int exit_code = 0, const std::string& env = "") {
  TempDir d("fixhost-wrapper");
  const auto bin = d.subdir("bin");
  const auto repo = d.subdir("repo");
  write_file(d / "output.txt", output);
  write_file(bin / tool, "#!/bin/sh\ncat '" + (d / "output.txt").string() + "'\nexit " + std::to_string(exit_code) + "\n");
  fs::permissions(bin / tool, fs::perms::owner_all);
  write_file(d / "prompt.md", "# fix it\n");
  write_file(d / "failure.json", R"({"test_id": "tests/test_a.py::test_a", "file": "tests/test_a.py", "stack_trace": ""})");
  REQUIRE(sh("git init -q -b main", repo).code == 0);
  const auto usage = d / "usage.json";
  Wrapped w;
  w.run = sh(env + " PATH='" + bin.string() + ":/usr/bin:/bin' FIXHOST_PROMPT_FILE='" + (d / "prompt.md").string() +
                 "' FIXHOST_SUMMARY_FILE='" + (d / "summary.txt").string() + "' FIXHOST_USAGE_FILE='" + usage.string() +
                 "' FIXHOST_FAILURE_FILE='" + (d / "failure.json").string() + "' sh " FIXHOST_SOURCE_DIR
                 "/examples/agents/" + tool + ".sh",
             repo);
  if (fs::exists(usage)) w.usage = nlohmann::json::parse(read_file(usage));
  if (fs::exists(d / "summary.txt")) w.summary = read_file(d / "summary.txt");
  return w;
}

}  // namespace

TEST_CASE("wrappers: claude.sh turns claude -p --output-format json's result into the usage file and the summary") {
  const std::string result = R"({"type":"result","subtype":"success","is_error":false,"duration_ms":8123,)"
                             R"("num_turns":4,"result":"Looked at util.py.\nadd subtracted; made it add",)"
                             R"("session_id":"5d1f","total_cost_usd":0.08412,)"
                             R"("usage":{"input_tokens":21,"cache_creation_input_tokens":4100,"cache_read_input_tokens":12000,)"
                             R"("output_tokens":812,"server_tool_use":{"web_search_requests":0}},)"
                             R"("modelUsage":{"claude-haiku-4-5":{"inputTokens":300,"outputTokens":40,"costUSD":0.0005},)"
                             R"("claude-sonnet-4-5":{"inputTokens":16121,"outputTokens":772,"costUSD":0.08362}}})";
  auto w = run_wrapper("claude", result);
  INFO(w.run.out);
  CHECK(w.run.code == 0);
  REQUIRE(w.usage.is_object());
  CHECK(w.usage["input_tokens"] == 21 + 4100 + 12000);
  CHECK(w.usage["output_tokens"] == 812);
  CHECK(w.usage["cost_usd"] == 0.08412);
  CHECK(w.usage["model"] == "claude-sonnet-4-5");
  CHECK(w.summary == "add subtracted; made it add\n");

  // Some setups print the whole message list; the result is its last entry.
  auto list = run_wrapper("claude", R"([{"type":"system","subtype":"init","model":"claude-opus-4-5"},)" + result + "]");
  REQUIRE(list.usage.is_object());
  CHECK(list.usage["cost_usd"] == 0.08412);

  // claude failed before printing JSON: no usage file (unknown), and the wrapper still exits 0.
  auto broken = run_wrapper("claude", "Error: not logged in\n", 1);
  CHECK(broken.run.code == 0);
  CHECK(broken.usage.is_null());
}

TEST_CASE("wrappers: codex.sh sums the turn.completed usage of codex exec --json and leaves the cost unknown") {
  const std::string events = R"({"type":"thread.started","thread_id":"0199a213"})" "\n"
                             R"({"type":"turn.started"})" "\n"
                             R"({"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"reading"}})" "\n"
                             R"({"type":"turn.completed","usage":{"input_tokens":26549,"cached_input_tokens":22272,"output_tokens":1590}})" "\n"
                             R"({"type":"turn.started"})" "\n"
                             R"({"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":0,"output_tokens":10}})" "\n";
  auto w = run_wrapper("codex", events, 0, "FIXHOST_CODEX_MODEL=gpt-5-codex");
  INFO(w.run.out);
  CHECK(w.run.code == 0);
  REQUIRE(w.usage.is_object());
  CHECK(w.usage["input_tokens"] == 27549);
  CHECK(w.usage["output_tokens"] == 1600);
  CHECK_FALSE(w.usage.contains("cost_usd"));  // codex reports none: unknown, never 0
  CHECK(w.usage["model"] == "gpt-5-codex");
  // codex's exit status is the wrapper's.
  CHECK(run_wrapper("codex", events, 5).run.code == 5);
}

TEST_CASE("wrappers: aider.sh reads aider's Tokens and Cost lines") {
  const std::string console = "Aider v0.86.1\n"
                              "Main model: anthropic/claude-sonnet-4-5 with diff edit format, infinite output\n"
                              "Git repo: .git with 3 files\n"
                              "Repo-map: using 4096 tokens, auto refresh\n"
                              "calc/util.py\n"
                              "Applied edit to calc/util.py\n"
                              "Tokens: 2.5k sent, 1.2k cache write, 340 received. Cost: $0.02 message, $0.02 session.\n"
                              "Tokens: 3.1k sent, 2.9k cache hit, 12k received. Cost: $0.19 message, $0.21 session.\n";
  auto w = run_wrapper("aider", console);
  INFO(w.run.out);
  CHECK(w.run.code == 0);
  REQUIRE(w.usage.is_object());
  CHECK(w.usage["input_tokens"] == 2500 + 3100);
  CHECK(w.usage["output_tokens"] == 340 + 12000);
  CHECK(w.usage["cost_usd"] == 0.21);
  CHECK(w.usage["model"] == "anthropic/claude-sonnet-4-5");
  CHECK(w.run.out.find("Applied edit") != std::string::npos);  // aider's output still reaches the log
  // A model without prices: tokens only, the cost unknown.
  auto free = run_wrapper("aider", "Model: ollama/qwen2.5-coder\nTokens: 900 sent, 45 received.\n", 0);
  REQUIRE(free.usage.is_object());
  CHECK(free.usage["input_tokens"] == 900);
  CHECK_FALSE(free.usage.contains("cost_usd"));
  CHECK(run_wrapper("aider", console, 2).run.code == 2);
}
