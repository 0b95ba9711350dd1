#pragma once
// The build manifest (`build.toml`, docs/BUILD.md): a feature split into streams, each owning a
// set of paths, ordered by their dependencies. parse_manifest() validates everything before
// anything runs; every refusal is one line naming the file, the stream and the key.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::host::build {

struct Stream {
  std::string id;
  // contract | backend | frontend | tests | any other word; "contract" wins overlaps.
  std::string role;
  std::vector<std::string> owns;    // globs it may write
  std::vector<std::string> shared;  // globs it may write that other streams may also write
  std::vector<std::string> depends_on;
  std::string agent;   // run as /bin/sh -c AGENT in its worktree; default [build] agent
  std::string prompt;  // its part of the work
  // Wall time for its agent, seconds. Default: [build] stream_budget_s
  std::int64_t budget_s = 0;
  // [streams.check] command: the stream's own test, run in its worktree after the agent.
  std::vector<std::string> check;
  bool is_contract() const { return role == "contract"; }
};

struct IntegrationCommand {
  std::string kind;  // tests | lint | types (given as `kind`, else guessed from the command)
  std::vector<std::string> argv;
};

struct Manifest {
  std::string source;  // the file it was read from (for messages)
  std::string feature;
  std::string spec;  // path, relative to the repository root
  std::vector<Stream> streams;  // as written
  std::vector<IntegrationCommand> commands;
  std::vector<std::string> contract_check;  // argv; empty = none
  // [build]
  std::string resolver;                // agent handed remaining conflicts; "" = stop and show them
  std::int64_t stream_budget_s = 600;  // default per-stream budget
  std::int64_t budget_s = 3600;        // the whole build
  std::uint32_t jobs = 0;              // 0 = as many as streams are ready

  const Stream* find(std::string_view id) const;
  const Stream* contract() const;  // the stream with role "contract", if any
  // Streams in dependency order (Kahn's algorithm, ties in manifest order).
  std::vector<std::string> order() const;
};

// Parses and validates TOML text. `source` names the file in messages. `default_agent` (from
// --agent or fixhost.toml) fills streams without an agent of their own and without [build] agent.
Result<Manifest> parse_manifest(std::string_view toml, std::string_view source, std::string_view default_agent = "");
Result<Manifest> read_manifest(const std::filesystem::path& file, std::string_view default_agent = "");

// The manifest as TOML again (what `--plan-only` and `--template` print).
std::string to_toml(const Manifest& m);

// Whether two globs can match the same path: equal, or a path made from one (wildcards filled
// in) matches the other. `files` (the repository's tracked files) adds witnesses.
bool globs_overlap(std::string_view a, std::string_view b, const std::vector<std::string>& files = {});

// Whether `path` (repository-relative) is one `stream` may write under `m`: it matches its owns
// or shared globs and, for a non-contract stream, no glob of the contract stream's owns.
bool may_write(const Manifest& m, const Stream& stream, std::string_view path);
// The stream owning `path` (the contract stream first), or nullptr.
const Stream* owner_of(const Manifest& m, std::string_view path);

// The templates under examples/build/: api-endpoint, ui-feature, data-model.
std::vector<std::string> template_names();
// The template's text with `feature` filled in. NotFound lists the names.
Result<std::string> render_template(const std::filesystem::path& templates_dir, std::string_view name,
                                    std::string_view feature);

}  // namespace fixhost::host::build
