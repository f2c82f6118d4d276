// Review reproducers for the router (docs/protocol.md §1, §7): answers the
// daemon builds itself must fit one packet.
//
// Flow: a router with a sink that encodes every send() as the wire packet
// proto::append_code_packet writes, and checks that the header's 16-bit
// length still describes the payload (a longer payload wraps the length and
// desynchronises the receiver's byte stream).
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "junction/proto/header.hpp"
#include "junction/proto/text.hpp"
#include "router.hpp"

using junction::daemon::action_sink;
using junction::daemon::conn_id;
using junction::daemon::credentials;
using junction::daemon::limits;
using junction::daemon::policy;
using junction::daemon::router;
using junction::proto::packet_type;
namespace proto = junction::proto;

namespace {

struct sent_packet {
    conn_id to;
    std::uint32_t id;
    std::size_t payload_bytes;  // what the daemon meant to send
    std::uint16_t header_length;  // what the header says
    std::uint16_t code;
    std::string message;
};

class sizing_sink final : public action_sink {
public:
    std::vector<sent_packet> sent;
    void forward(conn_id, std::uint32_t, std::span<const std::uint8_t>) override {}
    void send(conn_id to, packet_type type, std::uint32_t id, std::uint16_t code,
              std::string_view message, std::span<const std::uint8_t> content) override {
        std::vector<std::uint8_t> w;
        proto::append_code_packet(w, type, id, code, message, content);
        const auto h = proto::decode_header(
            std::span<const std::uint8_t, proto::header_size>(w.data(), proto::header_size));
        sent.push_back({to, id, w.size() - proto::header_size, h.length, code, std::string(message)});
    }
    void close(conn_id, std::string_view) override {}
    void diagnose(conn_id, std::string_view) override {}
};

bool request(router& r, action_sink& out, conn_id from, std::uint32_t id, std::string_view line) {
    std::vector<std::uint8_t> wire;
    proto::append_packet(wire, packet_type::request, id, proto::as_bytes(line));
    const std::span<const std::uint8_t> w(wire);
    const proto::frame f{proto::decode_header(w.first<proto::header_size>()),
                         w.subspan(proto::header_size), w};
    return r.on_packet(from, f, out);
}

}  // namespace

TEST_CASE("review: list-services with many long service names never sends a packet whose "
          "header length wrapped",
          "[review][router]") {
    // Default limits: 256 services per connection. Three providers with 200
    // names of 120 characters each: about 110 KB of JSON, all within the limits
    // any user has (names in user.<uid>.* need no special policy).
    router r(limits{}, 0, "0.1.0");
    r.set_policy(policy({"allow provide * *"}));
    sizing_sink out;
    for (conn_id p : {20u, 21u, 22u}) {
        r.on_open(p, credentials{static_cast<std::int32_t>(p), 1000, 1000, {}});
        for (int i = 0; i < 200; ++i) {
            std::string name = "svc." + std::to_string(p) + "." + std::to_string(i) + ".";
            name.resize(120, 'x');
            REQUIRE(request(r, out, p, 1 + static_cast<std::uint32_t>(i), "register-service " + name));
        }
    }
    REQUIRE(r.service_count() == 600);
    out.sent.clear();

    const conn_id c = 10;
    r.on_open(c, credentials{10, 1001, 1001, {}});
    REQUIRE(request(r, out, c, 7, "list-services"));
    REQUIRE(out.sent.size() == 1);
    INFO("code " << out.sent[0].code << " " << out.sent[0].message << "; payload " << out.sent[0].payload_bytes << " bytes, header length " << out.sent[0].header_length);
    // Either the answer is chunked by §5 (312 ... 200) or refused; a single
    // packet whose length field wrapped is never acceptable.
    CHECK(out.sent[0].payload_bytes <= proto::max_payload);
    CHECK(out.sent[0].header_length == out.sent[0].payload_bytes);
}
