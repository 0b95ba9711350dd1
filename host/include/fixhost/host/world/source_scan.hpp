#pragma once
// The repository's own import graph, as data for the orderer plugin: every Python and JS/TS
// file under the root with the repo-relative files it imports. Imports of anything outside the
// repository (stdlib, site-packages, node_modules) are left out.
#include <cstddef>
#include <filesystem>

#include "fixhost/events/payloads.hpp"

namespace fixhost::host {

struct ScanOptions {
  // Files scanned at most; the rest are skipped (a vendored tree should not stall detect).
  // Default: 20000
  std::size_t max_files = 20000;
  // Bytes read from each file. Default: 1 MiB
  std::size_t max_bytes = 1 << 20;
};

// Skips hidden directories, node_modules, __pycache__, venvs, build and dist directories.
// `root` in the result is left empty; the caller records the path it ran the suites in.
events::SourceScanned scan_sources(const std::filesystem::path& root, const ScanOptions& options = {});

}  // namespace fixhost::host
