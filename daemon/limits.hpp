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
    std::uint32_t max_services_per_uid = 16384;      // services all of a uid's connections register
    std::uint32_t max_connections = 4096;
    std::uint32_t max_connections_per_uid = 1024;
    std::uint32_t max_sessions_per_uid = 65536;       // sessions all of a uid's connections open
    std::uint64_t session_idle_timeout_ms = 0;        // 0: sessions are never reaped
    std::uint64_t first_packet_timeout_ms = 30000;    // a new connection must send a whole packet
    std::uint64_t partial_packet_timeout_ms = 10000;  // a started packet must complete
};

}  // namespace junction::daemon
