// The import scan (the SourceScanned fact) on real files in a temp directory.
#include <doctest/doctest.h>

#include <algorithm>

#include "fixhost/host/world/source_scan.hpp"
#include "fixhost/test/files.hpp"

using namespace fixhost::host;
using fixhost::test::TempDir;
using fixhost::test::write_file;

namespace {
std::vector<std::string> imports_of(const fixhost::events::SourceScanned& s, const std::string& path) {
  for (const auto& f : s.files)
    if (f.path == path) return f.imports;
  FAIL("no file " << path << " in the scan");
  return {};
}
}  // namespace

// Issue 8: imports written in docstrings and comments are prose, not imports.
TEST_CASE("the import scan ignores imports inside docstrings, strings and comments") {
  TempDir t("fixhost-scan");
  write_file(t.path() / "pkg/__init__.py", "");
  write_file(t.path() / "pkg/util.py", "def norm(s):\n    return s\n");
  write_file(t.path() / "pkg/legacy.py", "X = 1\n");
  write_file(t.path() / "pkg/money.py",
             "\"\"\"Money helpers.\n\nExample:\n    import pkg.legacy\n    >>> from pkg import legacy\n\"\"\"\n"
             "# import pkg.legacy  (old way)\n"
             "from pkg.util import norm  # the real one\n"
             "HELP = 'from pkg.legacy import X'\n"
             "def f():\n    '''\n    import pkg.legacy\n    '''\n    return norm('a # b')\n");
  write_file(t.path() / "web/cart.js",
             "// const old = require('./legacy');\n/* import x from './legacy'\n */\n"
             "const price = require('./price');\nconst url = 'http://example.invalid//x';\n");
  write_file(t.path() / "web/price.js", "module.exports = 1;\n");
  write_file(t.path() / "web/legacy.js", "module.exports = 2;\n");
  auto s = scan_sources(t.path());
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  const auto py = imports_of(s, "pkg/money.py");
  CHECK(has(py, "pkg/util.py"));
  CHECK_FALSE(has(py, "pkg/legacy.py"));
  const auto js = imports_of(s, "web/cart.js");
  CHECK(has(js, "web/price.js"));
  CHECK_FALSE(has(js, "web/legacy.js"));
}
