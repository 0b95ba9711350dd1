#include "fixhost/host/world/junit_rerun.hpp"

#include "fixhost/sdk/junit_families.hpp"
#include "fixhost_junit_families.hpp"

namespace fixhost::host::junit {

namespace {
using Families = std::map<std::string, sdk::junit::Family>;

const Families& shipped() {
  static const Families f = [] {
    auto r = sdk::junit::read_families(k_shipped_families_toml, "");
    return r ? r.value() : Families{};
  }();
  return f;
}

Families with(const std::string& overrides) {
  if (overrides.empty()) return shipped();
  auto r = sdk::junit::read_families(k_shipped_families_toml, overrides);
  return r ? r.value() : shipped();
}
}  // namespace

std::string guess_family(const std::vector<std::string>& command) { return sdk::junit::guess_family(shipped(), command); }

bool known_family(const std::string& family, const std::string& overrides) { return with(overrides).count(family) > 0; }

std::string family_names(const std::string& overrides) {
  std::string out;
  for (const auto& [name, f] : with(overrides)) out += (out.empty() ? "" : ", ") + name;
  return out;
}

Status selection(const std::string& family, const std::string& overrides, const std::vector<std::string>& test_ids,
                 std::vector<std::string>& args, bool& dashdash) {
  auto fams = with(overrides);
  auto it = fams.find(family);
  if (it == fams.end())
    return make_error(Errc::invalid_argument, "no junit family '" + family + "' (known: " + family_names(overrides) +
                                                  "); set family in [[suites]] or rerun = [..., \"{tests}\"]");
  if (it->second.select.empty())
    return make_error(Errc::invalid_argument, "junit family '" + family + "' has no select; add one in [junit_families." +
                                                  family + "] (docs/RUNNERS.md)");
  args = sdk::junit::selection_args(it->second, test_ids);
  dashdash = it->second.dashdash;
  return Status::ok();
}

}  // namespace fixhost::host::junit
