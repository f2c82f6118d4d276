// The malformed-input table of the trust issue: one daemon is fed every kind of
// bad input, each on its own connection, and each gets its documented outcome
// (docs/protocol.md §1.1, §6, §8). After the whole table a normal call on
// another connection still works, nothing is left in the daemon's tables, and
// its memory is back near where it started.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "harness.hpp"

using namespace junction::test;
using junction::proto::packet_type;

namespace {

constexpr auto due = std::chrono::milliseconds(3000);

std::string header_bytes(int version, int type, int length, std::uint32_t id) {
    std::string h(8, '\0');
    h[0] = static_cast<char>(version);
    h[1] = static_cast<char>(type);
    h[2] = static_cast<char>(length >> 8);
    h[3] = static_cast<char>(length);
    for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<char>(id >> (24 - 8 * i));
    return h;
}

struct outcome {
    int type;  // 3 RESPONSE, 4 UPDATE
    std::uint32_t id;
    int code;
    bool closed;  // the daemon closes the connection after it
};

struct malformed {
    const char* what;
    std::string bytes;  // sent as is, on a fresh connection
    outcome expect;
};

long daemon_sessions(raw_client& c, std::uint32_t id) {
    const auto p = c.request(id, "daemon-info");
    REQUIRE(p.code() == 200);
    c.send(packet_type::update, id, "103\n");
    return boost::json::parse(p.content()).as_object().at("sessions").as_int64();
}

}  // namespace

TEST_CASE("malformed-input table: every bad input gets its documented outcome, then the daemon "
          "serves normally with its tables empty and its memory back near the baseline",
          "[daemon][malformed][limits]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client other(d.socket());
    CHECK(other.request(1, "echo warm-up").content() == "warm-up");
    other.send(packet_type::update, 1, "103\n");
    const long baseline_kib = d.rss_kib();
    REQUIRE(baseline_kib > 0);

    const std::vector<malformed> table = {
        {"wrong version", header_bytes(2, 2, 4, 7) + "echo", {3, 7, 508, true}},
        {"version 0", header_bytes(0, 2, 0, 8), {3, 8, 508, true}},
        {"reserved type 0 (OK)", header_bytes(1, 0, 0, 9), {3, 9, 505, true}},
        {"reserved type 1 (HANDSHAKE)", header_bytes(1, 1, 0, 9), {3, 9, 505, true}},
        {"reserved type 5 (RELAY)", header_bytes(1, 5, 3, 9) + "abc", {3, 9, 505, true}},
        {"reserved type 6 (ENCPACKET)", header_bytes(1, 6, 0, 9), {3, 9, 505, true}},
        {"undefined type 200", header_bytes(1, 200, 0, 9), {3, 9, 505, true}},
        {"zero-length REQUEST", header_bytes(1, 2, 0, 10), {3, 10, 503, false}},
        {"request line with control bytes", encode(packet_type::request, 11, "echo\x01hi"),
         {3, 11, 503, false}},
        {"invalid UTF-8 in a service name", encode(packet_type::request, 12, "ech\xc3\x28"),
         {3, 12, 503, false}},
        {"unknown service", encode(packet_type::request, 13, "no.such.service"), {3, 13, 511, false}},
        {"UPDATE for a session never opened", encode(packet_type::update, 14, "200\nhi"),
         {3, 14, 102, false}},
        {"RESPONSE from a client (no such provider session)",
         encode(packet_type::response, 15, "200 OK\n"), {4, 15, 102, false}},
        {"REQUEST with id 0", encode(packet_type::request, 0, "echo x"), {3, 0, 503, false}},
        {"a code line without newline (echo session)",
         encode(packet_type::request, 16, "echo") + encode(packet_type::update, 16, "200"),
         {3, 16, 200, false}},  // the echo's own 200 first; the 506 follows (checked below)
    };

    for (const auto& row : table) {
        INFO(row.what);
        raw_client c(d.socket());
        c.send_raw(row.bytes);
        const auto p = c.recv(due);
        CHECK(static_cast<int>(p.type()) == row.expect.type);
        CHECK(p.id() == row.expect.id);
        CHECK(p.code() == row.expect.code);
        if (row.expect.closed) {
            CHECK(c.wait_closed(due));
        } else {
            // The connection still works.
            CHECK(c.request(0x7000, "echo alive").content() == "alive");
        }
    }

    SECTION("and the rows that need more than one packet") {
        // A code line without newline, then code 99 and abc: 506 ends each session.
        for (const std::string bad : {"200", "099\n", "abc\n"}) {
            INFO(bad);
            raw_client c(d.socket());
            CHECK(c.request(20, "echo").code() == 200);
            c.send(packet_type::update, 20, bad);
            const auto p = c.recv(due);
            CHECK(p.id() == 20);
            CHECK(p.code() == 506);
        }
        // A REQUEST reusing an open id ends the open session with 503.
        {
            raw_client c(d.socket());
            CHECK(c.request(30, "echo").code() == 200);
            CHECK(c.request(30, "echo again").code() == 503);
            c.send(packet_type::update, 30, "200\nx");
            CHECK(c.recv(due).code() == 102);
        }
        // Id 0xFFFFFFFF is an ordinary id.
        {
            raw_client c(d.socket());
            CHECK(c.request(0xFFFFFFFFu, "echo top").content() == "top");
        }
        // Length larger than what follows, then EOF: the daemon drops the frame.
        {
            raw_client c(d.socket());
            c.send_raw(header_bytes(1, 2, 100, 40) + "echo");
            c.close();
        }
        // 100,000 sessions opened and never closed: the first 8192 (the default
        // per-connection limit) are opened, every other one is answered 517.
        {
            raw_client c(d.socket());
            constexpr std::uint32_t total = 100000;
            std::string batch;
            int ok = 0, limited = 0, other_codes = 0;
            std::uint32_t received = 0;
            for (std::uint32_t id = 1; id <= total; ++id) {
                batch += encode(packet_type::request, id, "echo");
                if (batch.size() > 60000 || id == total) {
                    c.send_raw(batch);
                    batch.clear();
                    // Read what has come so far, so this client is not a slow reader.
                    while (auto p = c.try_recv(std::chrono::milliseconds(2))) {
                        ++received;
                        if (p->code() == 200) ++ok;
                        else if (p->code() == 517) ++limited;
                        else ++other_codes;
                    }
                }
            }
            while (received < total) {
                const auto p = c.recv(due);
                ++received;
                if (p.code() == 200) ++ok;
                else if (p.code() == 517) ++limited;
                else ++other_codes;
            }
            CHECK(ok == 8192);
            CHECK(limited == static_cast<int>(total) - 8192);
            CHECK(other_codes == 0);
        }
        // A flood of echo from a client that reads: every one is answered.
        {
            raw_client c(d.socket());
            CHECK(c.request(50, "echo").code() == 200);
            constexpr int flood = 20000;
            std::string batch;
            int answered = 0;
            for (int i = 0; i < flood; ++i) {
                batch += encode(packet_type::update, 50, "200\nping");
                if (batch.size() > 60000 || i == flood - 1) {
                    c.send_raw(batch);
                    batch.clear();
                    while (auto p = c.try_recv(std::chrono::milliseconds(2))) answered += p->content() == "ping";
                }
            }
            while (answered < flood) answered += c.recv(due).content() == "ping";
            CHECK(answered == flood);
        }

        // After the whole table: a normal call on another connection works, the
        // tables are empty (the asking session is the only one), and memory is
        // back near the baseline (malloc may keep some pages: allow 16 MiB).
        CHECK(other.request(60, "echo still here").content() == "still here");
        other.send(packet_type::update, 60, "103\n");
        CHECK(wait_until([&] { return daemon_sessions(other, 61) == 1; }, due));
        const long after_kib = d.rss_kib();
        INFO("RSS baseline " << baseline_kib << " KiB, after " << after_kib << " KiB");
#if defined(__SANITIZE_ADDRESS__)
        // The suite and junctiond are built alike: under ASan freed memory sits
        // in its quarantine, so RSS says nothing about what the daemon keeps.
        WARN("ASan build: RSS check skipped (baseline " << baseline_kib << " KiB, after "
                                                       << after_kib << " KiB)");
#else
        CHECK(after_kib - baseline_kib < 16 * 1024);
#endif
    }
}
