#pragma once
// Shared between the policy library's sources; not part of its interface.
#include <optional>
#include <string>
#include <string_view>

#include "policy_rules.hpp"

namespace fixhost::policy {

// Why `path` falls under a built-in protection, or nullopt.
std::optional<std::string> builtin_protection(std::string_view path);

}  // namespace fixhost::policy

namespace fixhost::policy {

// The rules that read a diff's lines (test_rules.cpp). Each appends what it finds to `out`.
// skip_marker: added lines, in any file but documentation, that skip, xfail, focus or deselect tests.
void check_skip_markers(const FileDiff& file, std::vector<Violation>& out);
// test_deleted: test functions (`def test_x`, `it("...")`, `test("...")`) removed from test files
// and not added back anywhere in the diff. Deleted files are left to the file-level check.
void check_removed_tests(const std::vector<FileDiff>& files, std::vector<Violation>& out);
// assertion_weakened, in one test file.
void check_assertions(const FileDiff& file, std::vector<Violation>& out);

// "tests/test_cart.py:12", or the path alone when the line is not known.
std::string where(const FileDiff& file, const DiffLine& line, bool removed);

}  // namespace fixhost::policy
