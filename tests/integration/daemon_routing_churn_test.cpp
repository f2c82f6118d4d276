// Routing while many connections come and go, on the real junctiond.
//
// The shell finds a connection by id through a slot table that starts small,
// doubles as connections open and hands out ids that skip occupied slots; a
// read that carries only RESPONSEs writes to the clients at once. These tests
// drive both past their edges and check that every packet still reaches
// exactly the connection it belongs to.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace junction::test;
using namespace junction::test::wire;
using junction::proto::packet_type;

namespace {

constexpr auto due = std::chrono::milliseconds(2000);  // how long an answer that is due may take

}  // namespace

TEST_CASE("150 clients opening and closing around one provider: each gets its own answers, "
          "the provider hears 515 for exactly the closed ones",
          "[daemon][routing]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "svc");

    std::vector<std::optional<raw_client>> clients;
    std::map<std::uint32_t, std::size_t> served;  // provider-side session id -> client index
    const auto open_client = [&] {
        const std::size_t i = clients.size();
        clients.emplace_back(std::in_place, d.socket());
        clients.back()->send(packet_type::request, 7, "svc " + std::to_string(i));
        const packet p = provider.recv(due);
        REQUIRE(p.payload == "svc " + std::to_string(i));
        served[p.id()] = i;
    };

    // 100 connections: the slot table grows twice past its initial 64.
    for (int n = 0; n < 100; ++n) open_client();

    // Every other client goes away.
    std::set<std::uint32_t> closed;
    for (const auto& [pid, i] : served)
        if (i % 2 == 0) closed.insert(pid);
    for (std::size_t i = 0; i < clients.size(); i += 2) {
        clients[i]->close();
        clients[i].reset();
    }
    std::set<std::uint32_t> told;
    for (std::size_t n = 0; n < closed.size(); ++n) {
        const packet p = provider.recv(due);
        CHECK(p.type() == static_cast<std::uint8_t>(packet_type::update));
        CHECK(p.code() == 515);
        told.insert(p.id());
    }
    CHECK(told == closed);

    // 50 more: new ids go around the slots the survivors still hold.
    for (int n = 0; n < 50; ++n) open_client();

    // One write with an answer for every live session: each client gets its own.
    std::string answers;
    for (const auto& [pid, i] : served)
        if (clients[i]) answers += encode(packet_type::response, pid, "200 " + std::to_string(i) + "\n");
    provider.send_raw(answers);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        if (!clients[i]) continue;
        INFO("client " << i);
        CHECK(as_hex(clients[i]->recv(due)) == response(7, "200 " + std::to_string(i) + "\n"));
    }

    // And the other way round, each client's UPDATE reaches the provider under its own id.
    for (std::size_t i = 1; i < clients.size(); i += 2) {
        if (!clients[i]) continue;
        clients[i]->send(packet_type::update, 7, "200\n" + std::to_string(i));
        const packet p = provider.recv(due);
        REQUIRE(served.count(p.id()) == 1);
        CHECK(served[p.id()] == i);
        CHECK(p.payload == "200\n" + std::to_string(i));
    }
}
