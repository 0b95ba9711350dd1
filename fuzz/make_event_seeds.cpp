// Writes seeds for fuzz_event: encoded envelopes of the events a detect run records for the
// parser seeds (SuiteFinished with the report and output, the FailureDetected and SuiteParsed
// the parsers derive from it) and one of every payload type with its fields default.
// Usage: fuzz_make_event_seeds <fuzz/corpus>   (reads pytest_junit/ and jest_json/, writes event/)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fixhost/events/codec.hpp"
#include "fuzz_input.hpp"
#include "jest_parse.hpp"
#include "pytest_parse.hpp"

namespace fs = std::filesystem;
using namespace fixhost;

namespace {

constexpr std::size_t k_max_seed = 65536;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int written = 0;

void write_seed(const fs::path& dir, const std::string& name, events::Event e) {
  e.seq = static_cast<std::uint64_t>(written + 1);
  e.ts_us = 1764000000000000 + written;
  e.causation = written ? static_cast<std::uint64_t>(written) : 0;
  std::string bytes = events::encode_envelope(e);
  if (bytes.size() > k_max_seed) return;
  std::ofstream(dir / (name + ".bin"), std::ios::binary) << bytes;
  ++written;
}

template <class ParseRun>
void seeds_of_reports(const fs::path& from, const fs::path& to, const char* runner, const char* format,
                      ParseRun parse_run) {
  if (!fs::is_directory(from)) return;
  for (const auto& f : fs::directory_iterator(from)) {
    std::string in = read_all(f.path());
    auto [report, output] = fuzz::split_report(in);
    events::SuiteFinished run;
    run.suite = runner;
    run.runner = runner;
    run.purpose = "detect";
    run.exit_code = 1;
    run.duration_ms = 1234;
    run.output.data = std::string(output);
    run.output.total_bytes = output.size();
    run.report.data = std::string(report);
    run.report.total_bytes = report.size();
    run.report_format = format;
    std::string stem = std::string(runner) + "-" + f.path().stem().string();
    write_seed(to, stem + "-finished", events::make_event(run, "r1"));
    auto parsed = parse_run(run);
    parsed.summary.suite = run.suite;
    write_seed(to, stem + "-parsed", events::make_event(parsed.summary, "r1", std::string(runner) + "_parser@1.0.0"));
    if (!parsed.failures.empty()) {
      auto failure = parsed.failures.front();
      failure.suite = run.suite;
      write_seed(to, stem + "-failure", events::make_event(failure, "r1", std::string(runner) + "_parser@1.0.0"));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_event_seeds <fuzz/corpus>\n");
    return 2;
  }
  fs::path corpus = argv[1];
  fs::path out = corpus / "event";
  fs::create_directories(out);
  seeds_of_reports(corpus / "pytest_junit", out, "pytest", "junit_xml", &pytest_parser::parse_pytest_run);
  seeds_of_reports(corpus / "jest_json", out, "jest", "jest_json", &jest_parser::parse_jest_run);
#define FIXHOST_X(name, id, kind) write_seed(out, "default-" #name, events::make_event(events::name{}, "r1"));
  FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
  std::printf("fuzz_make_event_seeds: wrote %d seeds to %s\n", written, out.string().c_str());
  return 0;
}
