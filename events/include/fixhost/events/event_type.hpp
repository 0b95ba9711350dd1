#pragma once
// The stable numeric ids of every event type. Ids are written to disk: never renumber or reuse
// one; add new types at the end. Id 0 is reserved and never stored.
#include <cstdint>
#include <optional>
#include <string_view>

// X(Name, id, kind): kind is `fact` (effectful code recorded what the world did) or `derived`
// (computed from other events alone; replay re-derives these through today's pure plugins).
#define FIXHOST_EVENT_TYPES(X)         \
  X(RunStarted, 1, fact)               \
  X(RunFinished, 2, fact)              \
  X(SuiteStarted, 3, fact)             \
  X(SuiteFinished, 4, fact)            \
  X(SuiteParsed, 5, derived)           \
  X(FailureDetected, 6, derived)       \
  X(FailureClassified, 7, derived)     \
  X(FailureOrdered, 8, derived)        \
  X(FlakeDetected, 9, fact)            \
  X(AttemptStarted, 10, fact)          \
  X(AttemptFinished, 11, fact)         \
  X(TestRerun, 12, fact)               \
  X(PolicyViolation, 13, derived)      \
  X(RegressionDetected, 14, fact)      \
  X(Reverted, 15, fact)                \
  X(BudgetExceeded, 16, fact)          \
  X(FailureResolved, 17, fact)         \
  X(Committed, 18, fact)               \
  X(ApprovalGiven, 19, fact)           \
  X(PrOpened, 20, fact)                \
  X(PrResolved, 21, fact)              \
  X(SentryIssueIngested, 22, fact)     \
  X(IssueTriaged, 23, derived)         \
  X(HumanAlert, 24, fact)              \
  X(ErrorRecurrenceChecked, 25, fact)  \
  X(StreamPlanned, 26, fact)           \
  X(WorktreeCreated, 27, fact)         \
  X(StreamFinished, 28, fact)          \
  X(WorktreesMerged, 29, fact)         \
  X(MergeConflict, 30, fact)           \
  X(ReportWritten, 31, fact)           \
  X(PluginFailed, 32, fact)            \
  X(ReplayCompared, 33, derived)      \
  X(SourceScanned, 34, fact)           \
  X(RoundStarted, 35, fact)            \
  X(ProtectionTooWide, 36, derived)    \
  X(MergePlanned, 50, derived)         \
  X(IntegrationChecked, 51, fact)      \
  X(ConflictResolved, 52, fact)

namespace fixhost::events {

enum class EventType : std::uint16_t {
  Reserved = 0,
#define FIXHOST_X(name, id, kind) name = id,
  FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
};

// The largest id in use. Ids are not contiguous (ranges are handed out per workstream): test
// an id with is_known_event_type, not with `<= k_max_event_type`.
inline constexpr std::uint16_t k_max_event_type = 52;

enum class EventKind : std::uint8_t { fact, derived };

constexpr std::string_view event_type_name(EventType t) noexcept {
  switch (t) {
#define FIXHOST_X(name, id, kind) \
  case EventType::name:           \
    return #name;
    FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
    case EventType::Reserved:
      break;
  }
  return "Unknown";
}

constexpr EventKind event_kind(EventType t) noexcept {
  switch (t) {
#define FIXHOST_X(name, id, k) \
  case EventType::name:        \
    return EventKind::k;
    FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
    case EventType::Reserved:
      break;
  }
  return EventKind::fact;
}

constexpr bool is_known_event_type(std::uint16_t value) noexcept {
  switch (value) {
#define FIXHOST_X(name, id, kind) case id:
    FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
    return true;
    default:
      return false;
  }
}

// Accepts the name ("FailureDetected", case-insensitive) or the numeric id ("6").
std::optional<EventType> parse_event_type(std::string_view text) noexcept;

}  // namespace fixhost::events
