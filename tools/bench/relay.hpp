// The minimal relay: the baseline junctiond is measured against.
//
// As simple as a hop can be while still doing a broker's necessary work, and
// no simpler: one process, one epoll loop; per wake-up it reads everything
// each readable socket has (bounded rounds of one 256 KiB read), decodes the
// frames with proto::frame_reader, rewrites each header's session id through
// two hash maps (client (connection, id) <-> provider id, the same
// boost::unordered_flat_map junctiond uses), copies the frame into the target
// connection's output buffer, and after the whole batch writes each touched
// buffer once.
//
// What it leaves out on purpose: validation of request lines and code lines
// beyond the three digits that end a session, limits, backpressure, 102/515
// answers, cleanup of sessions whose client vanished without ending them (the
// bench ends every session), more than one provider.
//
// Its protocol is a sliver of Junction's, so the bench's peers need no special
// case: REQUEST "register-service <name>" makes its sender the provider
// (answered "200 OK"); any other REQUEST opens a session on the provider.
#pragma once

#include <string>

namespace junction::bench {

// Listens on `socket_path` and relays until killed. Returns an exit status.
int run_relay(const std::string& socket_path);

}  // namespace junction::bench
