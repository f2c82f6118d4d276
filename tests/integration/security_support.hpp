// What the end-to-end security tests (security_limits_test.cpp,
// security_policy_test.cpp) share: their deadline, packet-type bytes, a socket
// open to every local user, and the provider side of a call. The second
// identity they connect as comes from security_identity.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "security_identity.hpp"

namespace junction::test::security {

inline constexpr auto due = std::chrono::milliseconds(3000);
inline constexpr std::uint8_t request_type = static_cast<std::uint8_t>(proto::packet_type::request);
inline constexpr std::uint8_t response_type = static_cast<std::uint8_t>(proto::packet_type::response);
inline constexpr std::uint8_t update_type = static_cast<std::uint8_t>(proto::packet_type::update);

// junctiond arguments: the socket open to every local user (mode 0666), then `more`.
inline std::vector<std::string> open_socket(std::vector<std::string> more = {}) {
    std::vector<std::string> args{"--socket-mode", "0666"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// The provider side of a call: the next REQUEST the provider receives.
inline packet next_request(raw_client& provider) {
    for (;;) {
        packet p = provider.recv(due);
        if (p.type() == request_type) return p;
    }
}

// A call from `client` that `provider` accepts: REQUEST `line` on `id`, "200 OK\n"
// back. Returns the id the provider sees.
inline std::uint32_t accepted_call(raw_client& client, std::uint32_t id, const std::string& line,
                                   raw_client& provider) {
    client.send(proto::packet_type::request, id, line);
    const packet req = next_request(provider);
    REQUIRE(req.payload == line);
    provider.send(proto::packet_type::response, req.id(), "200 OK\n");
    REQUIRE(client.recv(due).code() == 200);
    return req.id();
}

}  // namespace junction::test::security
