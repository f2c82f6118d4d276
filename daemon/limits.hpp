// Every limit the daemon enforces, with its default. Documented in docs/protocol.md
// ("Limits"); set from the config file and the command line (config.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace junction::daemon {

struct limits {
    std::size_t max_payload = 65535;                  // bytes in one packet's payload
    std::size_t max_message = 16u << 20;              // bytes of one chunked message
    std::size_t max_queued_bytes = 8u << 20;          // bytes waiting to be written to one connection
    std::uint32_t max_sessions_per_connection = 8192; // sessions a connection opens as client
    std::uint32_t max_services_per_connection = 256;
    std::uint32_t max_connections = 4096;
    std::uint32_t max_connections_per_uid = 1024;
};

}  // namespace junction::daemon
