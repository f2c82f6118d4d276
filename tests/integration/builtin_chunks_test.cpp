// Built-in answers over one packet (docs/protocol.md §7, chunked by §5), end to
// end: the real junctiond with 1,000 services of long names, read with raw
// frames, with the library's sync_client and with junctionctl list/status.
//
// Flow of a test: start a daemon that lets one connection register 1,000
// names, register them from one raw provider, then ask for list-services and
// check that every name of the registry comes back once. The last test has a
// raw provider send an endless chunked answer to the library's call().
#include <catch2/catch.hpp>

#include <algorithm>
#include <future>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "harness.hpp"
#include "junction/sync_client.hpp"

using namespace junction::test;
using junction::proto::packet_type;

namespace {

const std::string junctionctl_path = JUNCTION_BUILD_DIR "/tools/junctionctl/junctionctl";
constexpr std::size_t service_count = 1000;

// "long.0042.xxx...": 128 characters, the longest name §2.1 allows.
std::string long_name(std::size_t k) {
    std::string n = "long." + std::string(4 - std::to_string(k).size(), '0') + std::to_string(k) + ".";
    n.resize(128, 'x');
    return n;
}

std::set<std::string> all_names() {
    std::set<std::string> names;
    for (std::size_t k = 0; k < service_count; ++k) names.insert(long_name(k));
    return names;
}

// A daemon where one connection holds service_count long names.
struct crowded_daemon {
    temp_dir dir;
    daemon_process d;
    raw_client provider;

    explicit crowded_daemon(std::vector<std::string> extra = {})
        : d(dir, with_room(std::move(extra))), provider(d.socket()) {
        for (std::size_t k = 0; k < service_count; ++k) provider.register_service(long_name(k));
    }

    static std::vector<std::string> with_room(std::vector<std::string> extra) {
        extra.insert(extra.end(), {"--max-services-per-connection", "2000"});
        return extra;
    }
};

std::set<std::string> names_in(const std::string& json) {
    std::set<std::string> names;
    const boost::json::value list = boost::json::parse(json);
    for (const auto& s : list.at("services").as_array())
        names.insert(std::string(s.at("name").as_string()));
    return names;
}

run_result junctionctl(const daemon_process& d, const std::vector<std::string>& args) {
    std::vector<std::string> argv{junctionctl_path, "--socket", d.socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

}  // namespace

TEST_CASE("list-services of 1,000 names of 128 characters, raw frames: full RESPONSE 312 chunks, "
          "each after UPDATE 302, then 200 OK, together the whole registry",
          "[daemon][builtin][chunks]") {
    crowded_daemon c;
    raw_client client(c.d.socket());
    client.send(packet_type::request, 9, "list-services");
    std::string json;
    int chunks = 0;
    for (;;) {
        const packet p = client.recv();
        REQUIRE(p.type() == static_cast<std::uint8_t>(packet_type::response));
        REQUIRE(p.id() == 9);
        json += p.content();
        if (p.code() != 312) {
            CHECK(p.code() == 200);
            CHECK(p.message() == "OK");
            CHECK(p.payload.size() <= junction::proto::max_payload);
            break;
        }
        ++chunks;
        CHECK(p.message() == "HAS MORE");
        CHECK(p.payload.size() == junction::proto::max_payload);
        client.send(packet_type::update, 9, "302 MORE\n");
    }
    CHECK(chunks >= 2);  // about 190 KB of JSON
    CHECK(names_in(json) == all_names());
    // The command session goes on, and ends when the client says so.
    client.send(packet_type::update, 9, "200\ndaemon-info");
    const packet info = client.recv();
    CHECK(info.code() == 200);
    CHECK(boost::json::parse(info.content()).at("services").as_int64() ==
          static_cast<std::int64_t>(service_count));
    client.send(packet_type::update, 9, "103\n");
}

TEST_CASE("a client that does not send 302 gets nothing more, and ending the session drops the rest",
          "[daemon][builtin][chunks]") {
    crowded_daemon c;
    raw_client client(c.d.socket());
    client.send(packet_type::request, 9, "list-services");
    CHECK(client.recv().code() == 312);
    // Another session on the same connection is served meanwhile; it answers after
    // anything else the daemon would have sent on session 9.
    client.send(packet_type::request, 10, "echo ping");
    const packet echo = client.recv();
    CHECK(echo.id() == 10);
    CHECK(echo.payload == "200 OK\nping");
    client.send(packet_type::update, 9, "103\n");
    client.send(packet_type::update, 9, "302\n");  // session 9 is over
    CHECK(client.recv().payload == "102 no such session\n");
}

TEST_CASE("sync_client::call(\"list-services\") collects the chunked answer of 1,000 long names",
          "[lib][builtin][chunks]") {
    crowded_daemon c;
    junction::sync_client client(c.d.socket());
    const junction::packet p = client.call("list-services");
    REQUIRE(p.code == 200);
    CHECK(names_in(p.content) == all_names());
    // The session was ended: only the client's connection remains besides the provider.
    const junction::packet info = client.call("daemon-info");
    REQUIRE(info.code == 200);
    CHECK(boost::json::parse(info.content).at("sessions").as_int64() == 1);
}

TEST_CASE("junctionctl list shows 1,000 services with 128-character names, list --json and status work",
          "[junctionctl][list][chunks]") {
    crowded_daemon c;
    const auto r = junctionctl(c.d, {"list"});
    INFO("stderr:\n" << r.err);
    REQUIRE(r.status == 0);
    std::istringstream in(r.out);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    REQUIRE(lines.size() == service_count + 1);
    std::set<std::string> shown;
    for (std::size_t i = 1; i < lines.size(); ++i) shown.insert(lines[i].substr(0, lines[i].find(' ')));
    CHECK(shown == all_names());

    const auto j = junctionctl(c.d, {"list", "--json"});
    REQUIRE(j.status == 0);
    CHECK(names_in(j.out) == all_names());

    const auto s = junctionctl(c.d, {"status"});
    REQUIRE(s.status == 0);
    CHECK(s.out.find("services: 1000\n") != std::string::npos);
}

TEST_CASE("a list-services answer over --max-message is refused with 517 limit: message size, "
          "junctionctl list reports it and exits 1",
          "[daemon][builtin][chunks][limits]") {
    crowded_daemon c({"--max-message", "100000"});
    raw_client client(c.d.socket());
    const packet p = client.request(9, "list-services");
    CHECK(p.payload == "517 limit: message size\n");

    const auto r = junctionctl(c.d, {"list"});
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("517 limit: message size") != std::string::npos);
}

TEST_CASE("call() stops collecting a chunked answer at 16 MiB: the provider gets UPDATE 517, the "
          "caller a 517 packet",
          "[lib][chunks][limits]") {
    temp_dir dir;
    daemon_process d(dir, {"--max-message", "67108864"});  // the library's bound comes first
    raw_client provider = provider_of(d.socket(), "endless");
    auto answer = std::async(std::launch::async, [&] {
        junction::sync_client client(d.socket());
        return client.call("endless");
    });
    const packet req = provider.recv();
    REQUIRE(req.payload == "endless");
    const std::string chunk = "312 HAS MORE\n" + std::string(junction::proto::max_payload - 13, 'z');
    std::size_t sent = 0;
    packet p = req;
    for (;;) {
        provider.send(packet_type::response, req.id(), chunk);
        sent += chunk.size();
        p = provider.recv();
        if (p.code() != 302) break;
    }
    CHECK(p.type() == static_cast<std::uint8_t>(packet_type::update));
    CHECK(p.payload == "517 limit: message size\n");
    CHECK(sent > std::size_t{16} << 20);
    CHECK(sent < (std::size_t{16} << 20) + 2 * chunk.size());
    const junction::packet got = answer.get();
    CHECK(got.code == 517);
    CHECK(got.message.rfind("limit: message size", 0) == 0);
    CHECK(got.content.empty());
}
