// What the gateway unit tests (security_gateway_test.cpp, review_gateway_test.cpp)
// share: a libsearpc request as its client sends it, and a RESPONSE from the
// router handed to the gateway. The test plays both the client and the router.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "junction/proto/frame_reader.hpp"
#include "junction/proto/text.hpp"
#include "searpc_gateway.hpp"

namespace junction::test::gateway {

// A named-pipe request: native 32-bit length, then {"service", "request"}.
inline std::string searpc_request(const std::string& service, const std::string& call) {
    const std::string body = R"({"service":")" + service + R"(","request":")" + call + R"("})";
    const auto len = static_cast<std::uint32_t>(body.size());
    std::string out(4, '\0');
    std::memcpy(out.data(), &len, 4);
    return out + body;
}

// Feeds one RESPONSE with this exact payload to the gateway.
inline void respond(daemon::searpc_gateway& gw, std::uint32_t id, const std::string& payload,
                    daemon::gateway_output& out) {
    std::vector<std::uint8_t> wire;
    proto::append_packet(wire, proto::packet_type::response, id, proto::as_bytes(payload));
    proto::frame_reader reader;
    reader.feed(wire, [&](const proto::frame& f) {
        gw.on_router_frame(f, out);
        return true;
    });
}

}  // namespace junction::test::gateway
