#pragma once
// The worktree merger's rules as a library: from a build's planned streams and what each one
// finished with, the merge order and the resolution of every file more than one stream wrote
// (or a non-contract stream wrote inside the contract's paths). Pure: no I/O, no clock.
#include <string>
#include <vector>

#include "fixhost/events/payloads.hpp"

namespace fixhost::worktree_merger {

inline constexpr const char* k_rules_version = "worktree_merger/1";

// Decides a build. `planned` in the order the host recorded them; `finished` one per stream
// (a planned stream without one counts as failed). Rules, in order:
//  1. a stream is merged if it finished `ok` and every stream it depends on is merged; the
//     order is the dependency order (ties: planned order);
//  2. a file a non-contract stream wrote inside the contract stream's `owns`: contract_wins
//     (the contract's version is kept, the other stream's change to it dropped);
//  3. a file two or more merged streams wrote, each listing it in `shared`: three_way;
//  4. any other file two or more merged streams wrote: refused (a MergeConflict; nothing lands).
events::MergePlanned decide(const std::vector<events::StreamPlanned>& planned,
                            const std::vector<events::StreamFinished>& finished);

}  // namespace fixhost::worktree_merger
