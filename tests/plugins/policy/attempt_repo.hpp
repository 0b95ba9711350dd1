#pragma once
// A throw-away git repository in which a test plays an agent: it writes the "before" files,
// takes a snapshot, makes the attempt's changes and gets the AttemptFinished the host would
// record: the diff and the touched files come from the host's own git helpers (git.hpp), i.e.
// from real `git diff --binary --find-renames` and `git diff --name-status` runs.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "fixhost/events/payloads.hpp"
#include "fixhost/host/world/git.hpp"

namespace fixhost::testing {

class AttemptRepo {
 public:
  AttemptRepo() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fixhost-policy-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    auto r = host::git::run(dir_, {"init", "-q"});
    if (!r) throw std::runtime_error(r.status().to_string());
  }
  ~AttemptRepo() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  AttemptRepo(const AttemptRepo&) = delete;
  AttemptRepo& operator=(const AttemptRepo&) = delete;

  const std::filesystem::path& dir() const { return dir_; }

  void write(const std::string& rel, const std::string& text) {
    const auto p = dir_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(dir_ / rel, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  // Replaces the first `from` in `rel` with `to`; the test fails when `from` is not there.
  void edit(const std::string& rel, const std::string& from, const std::string& to) {
    std::string text = read(rel);
    const auto at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, rel << " does not contain: " << from);
    text.replace(at, from.size(), to);
    write(rel, text);
  }
  void remove(const std::string& rel) { std::filesystem::remove(dir_ / rel); }
  void rename(const std::string& from, const std::string& to) {
    std::filesystem::create_directories((dir_ / to).parent_path());
    std::filesystem::rename(dir_ / from, dir_ / to);
  }

  // The tree before the attempt.
  void snapshot() { before_ = tree(); }

  // What the host records once the agent is done.
  events::AttemptFinished finish(const std::string& category, const std::string& test_id = "tests/test_x.py::test_x",
                                 std::uint32_t attempt = 1) {
    const std::string after = tree();
    events::AttemptFinished a;
    a.test_id = test_id;
    a.attempt = attempt;
    a.category = category;
    auto diff = host::git::diff_trees(dir_, before_, after, /*binary=*/true);
    REQUIRE_MESSAGE(diff, diff.status().to_string());
    a.diff.data = *diff;
    a.diff.total_bytes = diff->size();
    auto files = host::git::changed_files(dir_, before_, after);
    REQUIRE_MESSAGE(files, files.status().to_string());
    a.files_touched = *files;
    return a;
  }

 private:
  std::string tree() {
    auto t = host::git::snapshot_tree(dir_);
    REQUIRE_MESSAGE(t, t.status().to_string());
    return *t;
  }

  std::filesystem::path dir_;
  std::string before_;
};

}  // namespace fixhost::testing
