// The shortest path through the daemon: echo, and one routed session.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace junction::test;
using junction::proto::packet_type;

TEST_CASE("echo answers 200 with its arguments as content", "[daemon][builtin]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client c(d.socket());
    const auto p = c.request(1001, "echo hello world");
    CHECK(p.type() == 3);
    CHECK(p.code() == 200);
    CHECK(p.content() == "hello world");
}

TEST_CASE("a REQUEST is routed to the provider with a daemon-chosen id and back", "[daemon][routing]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "hello");
    raw_client client(d.socket());
    client.send(packet_type::request, 1001, "hello a b");
    const auto req = provider.recv();
    CHECK(req.type() == 2);
    CHECK(req.payload == "hello a b");
    provider.send(packet_type::response, req.id(), "200 OK\nhi");
    const auto resp = client.recv();
    CHECK(resp.id() == 1001);
    CHECK(resp.payload == "200 OK\nhi");
}
