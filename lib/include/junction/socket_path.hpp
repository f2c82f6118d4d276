// Where the daemon's socket is by default (shared by junctiond, the library and junctionctl).
#pragma once

#include <string>

namespace junction {

// $JUNCTION_SOCKET, else /run/junction/junction.sock for root, else
// $XDG_RUNTIME_DIR/junction/junction.sock (falling back to /run/user/<uid>/...).
std::string default_socket_path();

}  // namespace junction
