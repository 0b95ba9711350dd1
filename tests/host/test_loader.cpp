#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>

#include <doctest/doctest.h>

#include "fixhost/host/loader.hpp"
#include "helpers.hpp"

using namespace fixhost;
using namespace fixhost::host;
using host_test::copy_plugin;
using host_test::TempDir;
namespace fs = std::filesystem;

namespace {

const Refusal* refusal_for(const LoadReport& report, const std::string& file) {
  for (const auto& r : report.refused)
    if (r.path.filename() == file) return &r;
  return nullptr;
}

LoaderOptions in_dirs(std::vector<fs::path> dirs) {
  LoaderOptions options;
  options.dirs = std::move(dirs);
  return options;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Whether the library at `path` is mapped in this process right now.
bool is_mapped(const fs::path& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  ::dlclose(handle);
  return true;
}

}  // namespace

TEST_CASE("every kind of broken plugin is refused with a reason, the good one still loads") {
  TempDir tmp;
  fs::path dir = tmp.subdir("plugins");
  for (const char* name : {"good", "no_entry", "no_create", "ctor_throws", "info_throws", "empty_name", "bad_sub",
                           "api_major2", "api_minor7"})
    copy_plugin(name, dir);
  host_test::write_file(dir / "text.so", "this is a text file that someone renamed to .so, not an ELF object\n");
  host_test::write_file(dir / "README.txt", "not a plugin, not even named like one\n");
  fs::create_directories(dir / "directory.so");
  fs::path create_marker = tmp / "created";
  ::setenv("FIXHOST_TEST_CREATE_MARKER", create_marker.c_str(), 1);

  LoadReport report = load_plugins(in_dirs({dir}));
  ::unsetenv("FIXHOST_TEST_CREATE_MARKER");

  REQUIRE(report.loaded.size() == 1);
  CHECK(report.loaded[0]->info.name == "good");
  CHECK(report.loaded[0]->id() == "good@1.2.0");
  CHECK(report.loaded[0]->path == dir / "good.so");
  CHECK(report.loaded[0]->pure());
  CHECK(report.loaded[0]->api.major == FIXHOST_API_MAJOR);
  CHECK(report.loaded[0]->instance != nullptr);

  CHECK(report.refused.size() == 9);
  for (const auto& r : report.refused) {
    INFO(r.reason);
    CHECK(contains(r.reason, r.path.string()));
    CHECK_FALSE(contains(r.reason, "\n"));
  }
  // Sorted by file name within the directory.
  CHECK(std::is_sorted(report.refused.begin(), report.refused.end(),
                       [](const Refusal& a, const Refusal& b) { return a.path.filename() < b.path.filename(); }));

  const Refusal* text = refusal_for(report, "text.so");
  REQUIRE(text != nullptr);
  CHECK(contains(text->reason, "not a loadable shared library"));
  CHECK(contains(text->reason, "(" + (dir / "text.so").string() + ": "));  // dlopen's own words

  const Refusal* no_entry = refusal_for(report, "no_entry.so");
  REQUIRE(no_entry != nullptr);
  CHECK(contains(no_entry->reason, "does not export fixhost_plugin_api_version"));
  CHECK(contains(no_entry->reason, "FIXHOST_PLUGIN(Class)"));

  const Refusal* no_create = refusal_for(report, "no_create.so");
  REQUIRE(no_create != nullptr);
  CHECK(contains(no_create->reason, "does not export fixhost_plugin_create"));
  CHECK(contains(no_create->reason, "FIXHOST_PLUGIN(Class)"));

  const Refusal* major = refusal_for(report, "api_major2.so");
  REQUIRE(major != nullptr);
  CHECK(contains(major->reason, "plugin API 2.0"));
  CHECK(contains(major->reason, "API " + k_host_api.to_string()));
  CHECK(contains(major->reason, "rebuild the plugin against this fixhost's sdk/"));

  const Refusal* minor = refusal_for(report, "api_minor7.so");
  REQUIRE(minor != nullptr);
  CHECK(contains(minor->reason, "plugin API 1.7"));
  CHECK(contains(minor->reason, "newer minor"));
  CHECK(contains(minor->reason, "rebuild the plugin against this fixhost's sdk/"));
  // The version is checked before the plugin's create entry point runs.
  CHECK_FALSE(fs::exists(create_marker));

  const Refusal* ctor = refusal_for(report, "ctor_throws.so");
  REQUIRE(ctor != nullptr);
  CHECK(contains(ctor->reason, "ctor_throws: cannot find my model file"));
  CHECK(contains(ctor->reason, "constructor"));

  const Refusal* info = refusal_for(report, "info_throws.so");
  REQUIRE(info != nullptr);
  CHECK(contains(info->reason, "info()"));
  CHECK(contains(info->reason, "no info today"));

  const Refusal* empty = refusal_for(report, "empty_name.so");
  REQUIRE(empty != nullptr);
  CHECK(contains(empty->reason, "empty name"));

  const Refusal* sub = refusal_for(report, "bad_sub.so");
  REQUIRE(sub != nullptr);
  CHECK(sub->name == "bad_sub");
  CHECK(contains(sub->reason, "unknown event type id 999"));

  // Refused libraries are not left mapped.
  for (const auto& r : report.refused)
    if (r.path.filename() != "text.so") CHECK_FALSE(is_mapped(r.path));
}

TEST_CASE("directories are searched in order, missing ones skipped, a duplicate name refused") {
  TempDir tmp;
  fs::path first = tmp.subdir("first");
  fs::path second = tmp.subdir("second");
  copy_plugin("good", first);
  copy_plugin("recorder", second);
  fs::path twin = copy_plugin("good", second, "good_again");

  LoadReport report = load_plugins(in_dirs({first, tmp / "missing", second}));
  REQUIRE(report.loaded.size() == 2);
  CHECK(report.loaded[0]->info.name == "good");
  CHECK(report.loaded[0]->path == first / "good.so");
  CHECK(report.loaded[1]->info.name == "recorder");
  REQUIRE(report.refused.size() == 1);
  CHECK(report.refused[0].path == twin);
  CHECK(report.refused[0].name == "good");
  CHECK(contains(report.refused[0].reason, "already loaded from '" + (first / "good.so").string() + "'"));
  CHECK_FALSE(is_mapped(twin));
}

TEST_CASE("a path that is a file, not a directory, is reported and the rest still loads") {
  TempDir tmp;
  fs::path dir = tmp.subdir("plugins");
  copy_plugin("good", dir);
  host_test::write_file(tmp / "not_a_dir", "x");
  LoadReport report = load_plugins(in_dirs({tmp / "not_a_dir", dir}));
  CHECK(report.loaded.size() == 1);
  REQUIRE(report.refused.size() == 1);
  CHECK(contains(report.refused[0].reason, "not a readable directory"));
}

TEST_CASE("configure receives the plugin's table, and an error or an exception refuses it") {
  TempDir tmp;
  fs::path dir = tmp.subdir("plugins");
  fs::path path = copy_plugin("good", dir);
  fs::path marker = tmp / "destroyed";

  SUBCASE("configure returns an error") {
    LoaderOptions options = in_dirs({dir});
    options.config["good"] = "fail = \"yes\"\nmarker = \"" + marker.string() + "\"\n";
    LoadReport report = load_plugins(options);
    CHECK(report.loaded.empty());
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].name == "good");
    CHECK(contains(report.refused[0].reason, "rejected its configuration"));
    CHECK(contains(report.refused[0].reason, "InvalidArgument: good: setting 'fail' is not allowed"));
    CHECK(contains(report.refused[0].reason, "[plugins.good]"));
    // The refused object was destroyed inside its library, and the library unmapped.
    CHECK(host_test::read_file(marker) == "destroyed\n");
    CHECK_FALSE(is_mapped(path));
  }
  SUBCASE("configure throws") {
    LoaderOptions options = in_dirs({dir});
    options.config["good"] = "throw = \"yes\"";
    LoadReport report = load_plugins(options);
    CHECK(report.loaded.empty());
    REQUIRE(report.refused.size() == 1);
    CHECK(contains(report.refused[0].reason, "good: configure exploded"));
  }
  SUBCASE("another plugin's table is not passed") {
    LoaderOptions options = in_dirs({dir});
    options.config["other"] = "fail = \"yes\"";
    LoadReport report = load_plugins(options);
    CHECK(report.loaded.size() == 1);
    CHECK(report.refused.empty());
  }
}

TEST_CASE("API rule: same major, plugin minor no newer than the host's") {
  TempDir tmp;
  fs::path dir = tmp.subdir("plugins");
  copy_plugin("good", dir);         // built against this sdk: k_host_api
  copy_plugin("api_minor7", dir);   // claims 1.7

  SUBCASE("a host with a newer minor loads an older plugin") {
    LoaderOptions options = in_dirs({dir});
    options.host_api = {k_host_api.major, static_cast<std::uint16_t>(k_host_api.minor + 7)};
    LoadReport report = load_plugins(options);
    CHECK(report.loaded.size() == 2);
    CHECK(report.refused.empty());
  }
  SUBCASE("a host with another major refuses it") {
    LoaderOptions options = in_dirs({dir});
    options.host_api = {static_cast<std::uint16_t>(k_host_api.major + 1), 0};
    LoadReport report = load_plugins(options);
    CHECK(report.loaded.empty());
    REQUIRE(report.refused.size() == 2);
    CHECK(contains(report.refused[0].reason, "a different major version"));
  }
  SUBCASE("this host refuses a plugin built against a newer minor") {
    LoadReport report = load_plugins(in_dirs({dir}));
    REQUIRE(report.loaded.size() == 1);
    CHECK(report.loaded[0]->info.name == "good");
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].path.filename() == "api_minor7.so");
  }
}

TEST_CASE("a plugin object dies inside its library before the library is unloaded") {
  TempDir tmp;
  fs::path dir = tmp.subdir("plugins");
  fs::path path = copy_plugin("good", dir);
  fs::path marker = tmp / "destroyed";
  LoaderOptions options = in_dirs({dir});
  options.config["good"] = "marker = \"" + marker.string() + "\"";

  std::shared_ptr<sdk::Plugin> kept;
  {
    LoadReport report = load_plugins(options);
    REQUIRE(report.loaded.size() == 1);
    CHECK(is_mapped(path));
    kept = report.loaded[0]->instance;
  }
  // The report is gone; the instance alone keeps the library mapped and the object alive.
  CHECK(is_mapped(path));
  CHECK_FALSE(fs::exists(marker));
  CHECK(kept->info().name == "good");

  kept.reset();
  CHECK(host_test::read_file(marker) == "destroyed\n");
  CHECK_FALSE(is_mapped(path));
}

TEST_CASE("the built-in plugin directory is <exe dir>/../lib/fixhost/plugins") {
  fs::path dir = builtin_plugin_dir();
  CHECK(dir.is_absolute());
  fs::path exe = fs::read_symlink("/proc/self/exe");
  CHECK(dir == fs::weakly_canonical(exe.parent_path() / ".." / "lib" / "fixhost" / "plugins"));
  // Test programs live in <build>/bin, like hostctl, so this is where CMake puts built-in plugins.
  if (exe.parent_path() == fs::weakly_canonical(fs::path(FIXHOST_BINARY_DIR) / "bin"))
    CHECK(dir == fs::weakly_canonical(FIXHOST_PLUGIN_DIR));
}
