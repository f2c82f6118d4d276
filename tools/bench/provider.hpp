// The raw-packet echo provider of service "bench.echo", the same for every system.
//
//   REQUEST  id Y               -> RESPONSE id Y "200 OK\n"
//   UPDATE   id Y "200\n<data>" -> RESPONSE id Y "200\n<data>"   (any non-ending code)
//   UPDATE   id Y 103/102/4xx/5xx -> nothing (the session is over)
//
// It runs in its own process (forked by the bench), one epoll loop: per wake-up
// it reads what each socket has, answers every frame into that connection's
// output buffer and writes each buffer once. With a hub it serves one
// connection (registered before the fork); directly it accepts clients itself.
#pragma once

#include <chrono>
#include <string>

namespace junction::bench {

inline constexpr const char* echo_service = "bench.echo";

// Connects to a hub (junctiond or the relay) and registers bench.echo with
// REQUEST "register-service bench.echo"; returns the registered socket.
int register_echo_provider(const std::string& hub_socket, std::chrono::milliseconds timeout);

// Serves until the hub connection closes (hub_fd >= 0) or the process is
// killed (direct: listen_fd >= 0, clients connect to it). Never returns.
[[noreturn]] void run_echo_provider(int listen_fd, int hub_fd);

}  // namespace junction::bench
