// Holds a store open for writing while the tests read it: writes the known history, prints
// "ready", then for each line "more RUN" on stdin appends one more run and prints "ok".
// Usage: stats_writer STORE_DIR [--no-projection]
#include <iostream>
#include <string>

#include "fixhost/host/stats.hpp"
#include "history.hpp"

int main(int argc, char** argv) {
  using namespace fixhost;
  if (argc < 2) {
    std::cerr << "usage: stats_writer STORE_DIR [--no-projection]\n";
    return 2;
  }
  store::StoreOptions so;
  so.holder = "stats_writer";
  if (!(argc > 2 && std::string(argv[2]) == "--no-projection")) so.projections.push_back(host::stats_projection());
  auto log = store::EventLog::open(argv[1], so);
  if (!log) {
    std::cerr << log.status().to_string() << "\n";
    return 2;
  }
  try {
    stats_test::write_history(**log, 3);
    std::cout << "ready" << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.rfind("more ", 0) == 0) stats_test::write_extra_run(**log, line.substr(5));
      std::cout << "ok" << std::endl;
    }
  } catch (const std::exception& ex) {
    std::cerr << ex.what() << "\n";
    return 2;
  }
  return 0;
}
