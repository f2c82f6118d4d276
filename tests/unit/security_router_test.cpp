// Regression tests for router bugs found while fuzzing (docs/security.md, "Fuzzing").
//
// Flow: a router with fake connection ids; a sink that records what the router
// sends. Each test drives the router into the state that broke an invariant of
// fuzz/fuzz_router.cpp and checks the invariant.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "junction/proto/header.hpp"
#include "junction/proto/text.hpp"
#include "router.hpp"

namespace proto = junction::proto;
namespace jd = junction::daemon;

namespace {

struct sent {
    jd::conn_id to;
    std::uint32_t id;
    std::uint16_t code;
    std::string message;
    std::size_t content_size;
    std::string content;
};

struct recording_sink final : jd::action_sink {
    std::vector<sent> sends;
    void forward(jd::conn_id, std::uint32_t, std::span<const std::uint8_t>) override {}
    void send(jd::conn_id to, proto::packet_type, std::uint32_t id, std::uint16_t code,
              std::string_view message, std::span<const std::uint8_t> content) override {
        sends.push_back({to, id, code, std::string(message), content.size(),
                         std::string(proto::as_text(content))});
    }
    void close(jd::conn_id, std::string_view) override {}
    void diagnose(jd::conn_id, std::string_view) override {}
};

void send(jd::router& r, jd::conn_id c, proto::packet_type type, std::uint32_t id,
          const std::string& payload, recording_sink& out) {
    std::vector<std::uint8_t> wire;
    proto::append_packet(wire, type, id, proto::as_bytes(payload));
    const proto::frame f{proto::decode_header(std::span<const std::uint8_t, proto::header_size>(
                             wire.data(), proto::header_size)),
                         std::span(wire).subspan(proto::header_size), wire};
    r.on_packet(c, f, out);
}

void request(jd::router& r, jd::conn_id c, std::uint32_t id, const std::string& line, recording_sink& out) {
    send(r, c, proto::packet_type::request, id, line, out);
}

void update(jd::router& r, jd::conn_id c, std::uint32_t id, const std::string& payload,
            recording_sink& out) {
    send(r, c, proto::packet_type::update, id, payload, out);
}

}  // namespace

TEST_CASE("router: a list-services answer over one packet goes out in 312 chunks, one per UPDATE 302, "
          "never a wrapped length",
          "[router][security]") {
    jd::router r(jd::limits{}, 0, "test");
    const jd::credentials root{1, 0, 0, {}};
    recording_sink out;
    // Two providers with 256 names of 128 characters each: about 95 KiB of JSON.
    std::uint32_t id = 1;
    for (jd::conn_id c : {1u, 2u}) {
        r.on_open(c, root);
        for (int k = 0; k < 256; ++k) {
            std::string name = "c" + std::to_string(c) + "-" + std::to_string(k) + "-";
            name.resize(proto::max_service_name, 'x');
            request(r, c, id++, "register-service " + name, out);
        }
    }
    REQUIRE(r.service_count() == 512);
    for (const sent& s : out.sends) REQUIRE(s.code == 200);

    r.on_open(3, root);
    out.sends.clear();
    request(r, 3, 7, "list-services", out);
    std::string json;
    int chunks = 0;
    for (;;) {
        REQUIRE(out.sends.size() == 1);
        const sent answer = out.sends.front();
        out.sends.clear();
        CHECK(answer.to == 3);
        CHECK(answer.id == 7);
        // Every packet fits: the code line and the content within 65535 bytes.
        CHECK(proto::code_payload_size(answer.message, answer.content_size) <= proto::max_payload);
        CHECK(3 + 1 + answer.message.size() + 1 + answer.content_size <= proto::max_payload);
        json += answer.content;
        if (answer.code != 312) {
            CHECK(answer.code == 200);
            break;
        }
        ++chunks;
        update(r, 3, 7, "302 MORE\n", out);
    }
    CHECK(chunks >= 1);  // about 95 KiB: one full chunk, then the rest
    CHECK(json.size() > proto::max_payload);
    CHECK(json.front() == '{');
    CHECK(json.back() == '}');
    CHECK(r.sessions_of(3) == 1);  // the command session goes on
}

TEST_CASE("router: list-services answers 200 while its JSON fits one packet", "[router][security]") {
    jd::router r(jd::limits{}, 0, "test");
    recording_sink out;
    r.on_open(1, jd::credentials{1, 0, 0, {}});
    for (std::uint32_t k = 0; k < 100; ++k) request(r, 1, k + 1, "register-service svc" + std::to_string(k), out);
    out.sends.clear();
    request(r, 1, 500, "list-services", out);
    REQUIRE(out.sends.size() == 1);
    CHECK(out.sends.front().code == 200);
    CHECK(out.sends.front().content_size > 100 * 20);
    CHECK(out.sends.front().content_size + 7 <= proto::max_payload);
}
