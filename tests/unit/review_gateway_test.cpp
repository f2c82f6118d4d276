// Review reproducers for the libsearpc gateway translator (docs/protocol.md §10).
//
// Flow: as in security_gateway_test.cpp, the test plays the router: it reads the
// frames the gateway emits and hands it RESPONSEs; the client's bytes go in
// through on_client_bytes() and replies come out in gateway_output::to_client.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "junction/proto/frame_reader.hpp"
#include "junction/proto/text.hpp"
#include "gateway_support.hpp"
#include "searpc_gateway.hpp"

using junction::daemon::gateway_output;
using junction::daemon::searpc_gateway;
namespace proto = junction::proto;
using namespace junction::test::gateway;

namespace {

struct emitted {
    std::uint8_t type;
    std::uint32_t id;
    std::string payload;
};

std::vector<emitted> frames_in(const std::vector<std::uint8_t>& to_router) {
    std::vector<emitted> out;
    proto::frame_reader reader;
    reader.feed(to_router, [&](const proto::frame& f) {
        out.push_back({f.hdr.type, f.hdr.id, std::string(proto::as_text(f.payload))});
        return true;
    });
    return out;
}

}  // namespace

TEST_CASE("review: gateway call timeout runs from when the call starts, not from when it was "
          "queued behind another call",
          "[review][gateway]") {
    // Call timeout 1000 ms. Two calls to "calc" arrive together at t=0; the first
    // takes 900 ms; the second starts at t=900 and has run for 200 ms at t=1100.
    searpc_gateway gw(1 << 20, 65535, 1000);
    gateway_output out;
    gw.on_client_bytes(proto::as_bytes(searpc_request("calc", R"([\"a\"])") +
                                       searpc_request("calc", R"([\"b\"])")),
                       0, out);
    auto sent = frames_in(out.to_router);
    REQUIRE(sent.size() == 1);  // REQUEST calc
    const std::uint32_t id = sent[0].id;

    gateway_output opened;
    respond(gw, id, "200 OK\n", opened);
    REQUIRE(frames_in(opened.to_router).size() == 1);  // UPDATE 301 ["a"]

    gateway_output quiet;
    gw.on_tick(900, quiet);  // the gateway learns the time; call 1 is still within its budget
    REQUIRE(quiet.to_client.empty());

    gateway_output first;
    respond(gw, id, "311 SERVER RET\n{\"ret\":1}", first);  // at t=900
    REQUIRE_FALSE(first.to_client.empty());                  // reply to call 1
    sent = frames_in(first.to_router);
    REQUIRE(sent.size() == 1);  // UPDATE 301 ["b"]: call 2 starts now
    CHECK(sent[0].payload == "301 CLIENT CALL\n[\"b\"]");

    gateway_output later;
    gw.on_tick(1100, later);
    // Call 2 has run for 200 ms of its 1000: it must not time out yet.
    CHECK(later.to_client.empty());
    CHECK(frames_in(later.to_router).empty());  // no UPDATE 514
    CHECK(gw.pending_calls() == 1);
}

TEST_CASE("review: a gateway client cannot make the daemon hold about 65 x max_message bytes "
          "of queued calls",
          "[review][gateway][security]") {
    // max_message 100000: each request may be that big, and 64 may queue behind the
    // one in progress, so one connection holds 65 x 100 kB. With the default 16 MiB
    // message limit that is over 1 GiB per connection (1024 connections per uid).
    constexpr std::size_t max_message = 100000;
    searpc_gateway gw(max_message, 65535, 30000);
    const std::string big_call(max_message - 100, 'x');
    std::string bytes;
    for (int i = 0; i < 65; ++i) bytes += searpc_request("calc", big_call);
    gateway_output out;
    gw.on_client_bytes(proto::as_bytes(bytes), 0, out);
    INFO("pending calls " << gw.pending_calls() << ", close reason '" << out.close_reason << "'");
    const std::size_t held = gw.pending_calls() * big_call.size();
    // A bound on queued call bytes (for example max_message, or counting them in
    // max-queued-bytes) closes this connection long before 65 of them are held.
    CHECK((!out.close_reason.empty() || held <= 2 * max_message));
}

TEST_CASE("review: while awaiting a result, only 312 and 311 content becomes the result "
          "(a stray 200 or keep-alive with content does not corrupt the reply JSON)",
          "[review][gateway]") {
    searpc_gateway gw(1 << 20, 65535, 30000);
    gateway_output out;
    gw.on_client_bytes(proto::as_bytes(searpc_request("calc", R"([\"a\"])")), 0, out);
    const auto sent = frames_in(out.to_router);
    REQUIRE(sent.size() == 1);
    gateway_output step;
    respond(gw, sent[0].id, "200 OK\n", step);
    respond(gw, sent[0].id, "100 keep-alive\nping", step);
    respond(gw, sent[0].id, "311 SERVER RET\n{\"ret\":1}", step);
    REQUIRE(step.to_client.size() > 4);
    const std::string reply(step.to_client.begin() + 4, step.to_client.end());
    CHECK(reply == "{\"ret\":1}");
}
