#include "junction/socket_path.hpp"

#include <cstdlib>
#include <unistd.h>

namespace junction {

std::string default_socket_path() {
    if (const char* env = std::getenv("JUNCTION_SOCKET"); env && *env) return env;
    if (::geteuid() == 0) return "/run/junction/junction.sock";
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg)
        return std::string(xdg) + "/junction/junction.sock";
    return "/run/user/" + std::to_string(::geteuid()) + "/junction/junction.sock";
}

}  // namespace junction
