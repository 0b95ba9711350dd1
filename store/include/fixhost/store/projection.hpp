#pragma once
// Projections: state folded from the events and kept in the store beside them, so a question
// such as `hostctl stats` is answered from a few records instead of a scan of the log.
// A projection registered with an EventLog (StoreOptions::projections) is updated in the same
// atomic write as every appended batch, with a checkpoint (its version and the last seq folded
// in). A store appended to without it is caught up from that checkpoint when it is next opened
// (in memory for a read-only open). Layout: docs/STATS.md.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "fixhost/events/event.hpp"
#include "fixhost/result.hpp"

namespace fixhost::store {

// Visits records in key order; return false to stop.
using RecordVisitor = std::function<bool(std::string_view key, std::string_view value)>;

// Read access to one projection's records (key -> bytes). Valid only during the call it is
// handed to.
class ProjectionView {
 public:
  virtual ~ProjectionView() = default;
  // The record under `key`; nullopt when there is none.
  virtual Result<std::optional<std::string>> get(std::string_view key) const = 0;
  // Every record whose key starts with `prefix`, in key order.
  virtual Status scan(std::string_view prefix, const RecordVisitor& visit) const = 0;
  // The seq of the last event folded into the state (0: none).
  virtual std::uint64_t seq() const = 0;
};

// Read and write access while events are folded in. Writes are seen by later reads at once and
// reach the store together with the events they were folded from, or not at all.
class ProjectionState : public ProjectionView {
 public:
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void erase(std::string_view key) = 0;
};

// A fold over the log. Implementations keep no state of their own (everything lives in the
// records), so one object may serve several logs and threads at once.
class Projection {
 public:
  virtual ~Projection() = default;
  // Stable name, [a-z0-9_]+; its records are stored under it.
  virtual std::string name() const = 0;
  // Bumped when the meaning or encoding of the records changes: a stored state of another
  // version is dropped and folded again from the first event.
  virtual std::uint32_t version() const = 0;
  // Folds `events` (consecutive, in seq order, right after state.seq()) into `state`. The result
  // must depend only on the state and the events, never on how the log was cut into batches.
  // An error leaves the projection behind at its checkpoint (appends still succeed); readers
  // then see the error.
  virtual Status apply(std::span<const events::Event> events, ProjectionState& state) const = 0;
};

// What a store holds of a projection: the version its records were written by and the last
// seq folded in. Absent when nothing was ever stored for it.
struct ProjectionCheckpoint {
  std::uint32_t version = 0;
  std::uint64_t seq = 0;
};

}  // namespace fixhost::store
