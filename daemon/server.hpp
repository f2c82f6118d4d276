// The I/O shell: listeners, connections, write queues, signals. Owns every
// file descriptor and does nothing clever; all decisions are the router's.
// Its event loop is its own (epoll, signalfd; see server.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config.hpp"

namespace junction::daemon {

class server {
public:
    // `args` is the command line, parsed again on SIGHUP to reload the config.
    server(config cfg, std::vector<std::string> args);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds the socket (throws std::system_error with a clear message when it
    // cannot), then runs the event loop until SIGTERM/SIGINT. Returns the exit code.
    int run();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace junction::daemon
