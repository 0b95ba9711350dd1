#pragma once
// The libnats connection options of a [cluster] config (internal to host/src/cluster/): one
// place for the forwarder, the views, the job queue and the workers.
#include <string>

#include "fixhost/host/cluster.hpp"
#include "fixhost/host/world/jetstream.hpp"

namespace fixhost::host {

inline world::NatsOptions nats_options(const ClusterConfig& c, const std::string& name) {
  world::NatsOptions o;
  o.url = c.url;
  o.token = c.token;
  o.creds = c.creds;
  o.name = name;
  return o;
}

}  // namespace fixhost::host
