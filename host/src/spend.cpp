#include "fixhost/host/spend.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace fixhost::host {
namespace fs = std::filesystem;

namespace {
constexpr std::uintmax_t k_usage_file_cap = 64 * 1024;  // a usage file is a few dozen bytes
}

SpendTotals Spend::add(const events::AgentUsage& u) {
  std::lock_guard lock(mu_);
  if (u.known && u.cost_usd >= 0) {
    t_.cost_usd += u.cost_usd;
    ++t_.attempts_costed;
  } else {
    ++t_.attempts_cost_unknown;
  }
  if (u.known && u.input_tokens >= 0) t_.input_tokens += u.input_tokens;
  if (u.known && u.output_tokens >= 0) t_.output_tokens += u.output_tokens;
  return t_;
}

SpendTotals Spend::totals() const {
  std::lock_guard lock(mu_);
  return t_;
}

bool Spend::first(const std::string& what) {
  std::lock_guard lock(mu_);
  return said_.insert(what).second;
}

UsageRead read_usage_file(const fs::path& file) {
  UsageRead out;
  std::error_code ec;
  if (!fs::exists(file, ec)) return out;  // nothing reported: unknown, and no warning
  auto bad = [&](const std::string& what) {
    out.usage = events::AgentUsage{};
    out.warning = "the usage file '" + file.string() + "' " + what +
                  "; this attempt's usage counts as unknown (expected one JSON object such as "
                  "{\"input_tokens\": 1200, \"output_tokens\": 340, \"cost_usd\": 0.0123, \"model\": \"...\"}, "
                  "docs/USAGE.md)";
    return out;
  };
  if (!fs::is_regular_file(file, ec)) return bad("is not a regular file");
  const auto size = fs::file_size(file, ec);
  if (ec) return bad("cannot be read (" + ec.message() + ")");
  if (size > k_usage_file_cap) return bad("is " + std::to_string(size) + " bytes, over the 64 KiB a usage file may have");
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return bad("cannot be read");
  const std::string body = text.str();
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return bad("is empty");
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return bad("is not valid JSON");
  if (!j.is_object()) return bad("holds JSON but not an object");
  auto& u = out.usage;
  bool any = false;
  for (const char* key : {"input_tokens", "output_tokens"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    const bool whole = it->is_number_integer() || (it->is_number_float() && std::floor(it->get<double>()) == it->get<double>());
    if (!whole || it->get<double>() < 0 || it->get<double>() > 9.0e15)
      return bad(std::string("has ") + key + " = " + it->dump() + ", not a whole number of tokens, 0 or more");
    (std::string(key) == "input_tokens" ? u.input_tokens : u.output_tokens) = it->get<std::int64_t>();
    any = true;
  }
  if (auto it = j.find("cost_usd"); it != j.end() && !it->is_null()) {
    if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0)
      return bad("has cost_usd = " + it->dump() + ", not a number of US dollars, 0 or more");
    u.cost_usd = it->get<double>();
    any = true;
  }
  if (auto it = j.find("model"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return bad("has model = " + it->dump() + ", not a string");
    u.model = it->get<std::string>().substr(0, 200);
    any = true;
  }
  if (!any) return bad("has none of input_tokens, output_tokens, cost_usd, model");
  u.known = true;
  return out;
}

std::string format_usd(double usd) {
  if (usd < 0) return "unknown";
  char buf[64];
  std::snprintf(buf, sizeof buf, usd < 1 ? "$%.4f" : "$%.2f", usd);
  return buf;
}

}  // namespace fixhost::host
