// The blocking facade (sync_client) and the example programs, against the real
// junctiond. No Asio here: sync_client.hpp is all a simple program needs.
//
// Flow: start junctiond on a temp socket; drive it with sync_client, or spawn
// the built examples (JUNCTION_BUILD_DIR/examples/...) and read their output.
// Readiness is an event: the provider prints "ready" once registered.
#include <catch2/catch.hpp>

#include <csignal>

#include "harness.hpp"
#include "junction/sync_client.hpp"

using namespace junction::test;
using junction::errc;
using junction::sync_client;

namespace {

const std::string example_provider = JUNCTION_BUILD_DIR "/examples/example-provider";
const std::string example_client = JUNCTION_BUILD_DIR "/examples/example-client";

// Starts example-provider and waits until it has registered its service.
struct provider_process {
    provider_process(const temp_dir& dir, const std::string& socket, std::string log_name = "provider.log",
                     std::vector<std::string> extra = {})
        : log(dir.file(log_name)), proc(command(socket, std::move(extra)), log) {
        ready = wait_until([&] { return read_file(log).find("ready") != std::string::npos; });
    }
    static std::vector<std::string> command(const std::string& socket, std::vector<std::string> extra) {
        std::vector<std::string> argv{example_provider, "--socket", socket};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    }
    std::string log;
    child_process proc;
    bool ready = false;
};

}  // namespace

TEST_CASE("sync_client: call echo, and a session driven step by step", "[lib][sync]") {
    temp_dir dir;
    daemon_process d(dir);
    sync_client c(d.socket());
    CHECK(c.is_open());
    const auto p = c.call("echo hi there");
    CHECK(p.code == 200);
    CHECK(p.content == "hi there");
    CHECK(p.code_line() == "200 OK");

    auto s = c.open("echo");
    CHECK(s.id() != 0);
    CHECK(s.receive().code == 200);
    s.update(200, "", "ping");
    CHECK(s.receive().content == "ping");
    CHECK_FALSE(s.ended());
    s.end();
    CHECK(s.ended());
    try {
        s.receive();
        FAIL("receive after end must throw");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::session_ended);
    }
    s.end();  // idempotent

    // A session dropped while open is ended for you; the connection stays usable.
    {
        auto dropped = c.open("echo x");
        CHECK(dropped.receive().content == "x");
    }
    CHECK(c.call("echo y").content == "y");
}

TEST_CASE("sync_client: an unknown service is answered 511, a silent one times out", "[lib][sync]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client silent = provider_of(d.socket(), "t.silent");
    sync_client c(d.socket(), std::chrono::milliseconds(200));
    CHECK(c.call("no.such.service").code == 511);
    const auto t0 = std::chrono::steady_clock::now();
    try {
        c.call("t.silent");
        FAIL("call must time out");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::timeout);
    }
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(waited >= 200ms);
    CHECK(waited < 2s);
    // The timed-out session was ended with 103 behind the caller's back.
    const auto req = silent.recv();
    CHECK(req.type() == 2);
    const auto end = silent.recv();
    CHECK(end.type() == 4);
    CHECK(end.code() == 103);
    CHECK(end.id() == req.id());
}

TEST_CASE("sync_client: no daemon: the constructor throws system_error naming the socket",
          "[lib][sync]") {
    temp_dir dir;
    const std::string path = dir.file("absent.sock");
    try {
        sync_client c(path);
        FAIL("constructor must throw");
    } catch (const std::system_error& e) {
        CHECK_THAT(e.what(), Catch::Contains(path));
    }
}

TEST_CASE("sync_client: after junctiond restarts, the next call connects again", "[lib][sync]") {
    temp_dir dir;
    std::optional<daemon_process> d;
    d.emplace(dir);
    sync_client c(d->socket());
    CHECK(c.call("echo 1").content == "1");
    auto s = c.open("echo");
    CHECK(s.receive().code == 200);
    d->process().signal(SIGKILL);
    try {
        s.receive();
        FAIL("receive on a dead connection must throw");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::connection_lost);
    }
    d.reset();
    d.emplace(dir);
    CHECK(c.call("echo 2").content == "2");
    CHECK(c.is_open());
}

TEST_CASE("examples: example-client calls example-provider through junctiond", "[lib][examples]") {
    temp_dir dir;
    daemon_process d(dir);
    provider_process provider(dir, d.socket());
    REQUIRE(provider.ready);

    const auto hello = run_command({example_client, "--socket", d.socket(), "world"});
    CHECK(hello.status == 0);
    CHECK(hello.out == "hello, world\n");
    CHECK(hello.err.empty());

    const auto updates = run_command(
        {example_client, "--socket", d.socket(), "--update", "ping", "--update", "pong", "a", "b"});
    CHECK(updates.status == 0);
    CHECK(updates.out == "hello, a b\nping\npong\n");

    // The same service through the library's sync facade.
    sync_client c(d.socket());
    CHECK(c.call("example.hello sync").content == "hello, sync");

    // SIGTERM: the provider closes and exits 0; its service is gone.
    provider.proc.signal(SIGTERM);
    CHECK(provider.proc.wait_exit() == 0);
    REQUIRE(wait_until([&] { return c.call("example.hello again").code == 511; }));
    const auto gone = run_command({example_client, "--socket", d.socket(), "world"});
    CHECK(gone.status == 3);
    CHECK_THAT(gone.err, Catch::Contains("511"));
}

// The default (reconnecting, retrying a taken name) is in lib_provider_test.cpp.
TEST_CASE("examples: example-provider --exit-on-disconnect exits 1 when junctiond goes away or the name is taken, "
          "example-client without daemon exits 1",
          "[lib][examples]") {
    temp_dir dir;
    std::optional<daemon_process> d;
    d.emplace(dir);
    const std::string socket = d->socket();
    provider_process provider(dir, socket, "provider.log", {"--exit-on-disconnect"});
    REQUIRE(provider.ready);
    // A second provider for the same name is refused (516) and says so.
    const auto second = run_command({example_provider, "--socket", socket, "--exit-on-disconnect"});
    CHECK(second.status == 1);
    CHECK_THAT(second.err, Catch::Contains("516"));

    d->process().signal(SIGKILL);
    CHECK(provider.proc.wait_exit() == 1);
    CHECK_THAT(read_file(provider.log), Catch::Contains("connection to junctiond lost"));
    d.reset();

    const auto client = run_command({example_client, "--socket", socket, "world"});
    CHECK(client.status == 1);
    CHECK_THAT(client.err, Catch::Contains(socket));
}

TEST_CASE("examples: example-provider is listed and called with junctionctl", "[lib][examples][ctl]") {
    // The core issue's "done means": a provider registered through the library
    // is listed and called with junctionctl.
    const std::string junctionctl = JUNCTION_BUILD_DIR "/tools/junctionctl/junctionctl";
    temp_dir dir;
    daemon_process d(dir);
    provider_process provider(dir, d.socket());
    REQUIRE(provider.ready);

    const auto list = run_command({junctionctl, "--socket", d.socket(), "list"});
    CHECK(list.status == 0);
    CHECK(list.out.find("example.hello") != std::string::npos);

    const auto call = run_command({junctionctl, "--socket", d.socket(), "call", "example.hello", "world"});
    CHECK(call.status == 0);
    CHECK(call.out == "hello, world");

    const auto updates = run_command({junctionctl, "--socket", d.socket(), "call", "example.hello",
                                      "x", "--update", "200:ping"});
    CHECK(updates.status == 0);
    CHECK(updates.out == "hello, xping");
}
