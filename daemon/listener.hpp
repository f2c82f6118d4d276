// Binding the daemon's Unix socket safely (plain POSIX, no Asio).
//
// - Creates the parent directory (mode 0755) when missing.
// - Never follows a symlink and never removes anything that is not a socket.
// - A socket file that accepts connections belongs to a live daemon: refuse.
//   One that refuses connections is stale: replace it.
// - On exit, unlink the path only if it is still the socket we bound.
#pragma once

#include <string>
#include <sys/types.h>
#include <system_error>

namespace junction::daemon {

struct bound_socket {
    int fd = -1;
    std::string path;
    dev_t dev = 0;
    ino_t ino = 0;
};

// Returns the listening socket, or throws std::system_error with a clear message.
// `gid` (unless -1) becomes the socket file's group.
bound_socket bind_unix_listener(const std::string& path, unsigned mode,
                                gid_t gid = static_cast<gid_t>(-1), int backlog = 1024);
// Removes the socket file if it is still the one `s` bound.
void unlink_if_ours(const bound_socket& s) noexcept;

}  // namespace junction::daemon
