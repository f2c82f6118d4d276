// junctionctl list / status, end to end: the real junctiond, a raw provider,
// and the built junctionctl binary run as a user would run it.
//
// Flow of a test: start a daemon, register services with raw clients, run
// junctionctl against the daemon's socket, compare its exit status and output
// (tables by words, JSON by parsing).
#include <catch2/catch.hpp>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

#include "harness.hpp"

using namespace junction::test;
using junction::proto::packet_type;

namespace {

const std::string junctionctl_path = JUNCTION_BUILD_DIR "/tools/junctionctl/junctionctl";

// junctionctl --socket <daemon's socket> <args...>
run_result junctionctl(const daemon_process& d, const std::vector<std::string>& args) {
    std::vector<std::string> argv{junctionctl_path, "--socket", d.socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

std::vector<std::string> words_of(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

}  // namespace

TEST_CASE("junctionctl list: a table row per service with provider pid, uid, gid and open sessions",
          "[junctionctl][list]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "hello");
    provider.register_service("world");
    raw_client client(d.socket());
    client.send(packet_type::request, 1001, "hello");
    REQUIRE(provider.recv().payload == "hello");  // one open session on "hello"

    const auto r = junctionctl(d, {"list"});
    INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
    REQUIRE(r.status == 0);
    const auto lines = lines_of(r.out);
    REQUIRE(lines.size() == 3);
    CHECK(words_of(lines[0]) ==
          std::vector<std::string>{"NAME", "PROVIDER", "PID", "UID", "GID", "SESSIONS"});
    const std::string pid = std::to_string(::getpid()), uid = std::to_string(::getuid()),
                      gid = std::to_string(::getgid());
    std::vector<std::vector<std::string>> rows{words_of(lines[1]), words_of(lines[2])};
    std::sort(rows.begin(), rows.end());
    CHECK(rows[0] == std::vector<std::string>{"hello", pid, uid, gid, "1"});
    CHECK(rows[1] == std::vector<std::string>{"world", pid, uid, gid, "0"});
    CHECK(r.err.empty());
}

TEST_CASE("junctionctl list --json: the daemon's list-services JSON, with the service and its "
          "provider's uid, and --json works before or after the command",
          "[junctionctl][list][json]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "hello");

    for (const auto& args : {std::vector<std::string>{"list", "--json"},
                             std::vector<std::string>{"--json", "list"}}) {
        const auto r = junctionctl(d, args);
        INFO("args: " << args[0] << " " << args[1] << "\nstdout:\n"
                      << r.out << "stderr:\n"
                      << r.err);
        REQUIRE(r.status == 0);
        const auto json = boost::json::parse(r.out);
        const auto& services = json.at("services").as_array();
        REQUIRE(services.size() == 1);
        const auto& svc = services[0].as_object();
        CHECK(svc.at("name").as_string() == "hello");
        CHECK(svc.at("provider").at("uid").to_number<long>() == static_cast<long>(::getuid()));
        CHECK(svc.at("provider").at("pid").to_number<long>() == static_cast<long>(::getpid()));
        CHECK(svc.at("sessions").to_number<int>() == 0);
    }
}

TEST_CASE("junctionctl list with no services prints the header only", "[junctionctl][list]") {
    temp_dir dir;
    daemon_process d(dir);
    const auto r = junctionctl(d, {"list"});
    REQUIRE(r.status == 0);
    CHECK(lines_of(r.out).size() == 1);
}

TEST_CASE("junctionctl status: the socket, then daemon-info as 'key: value' lines with a "
          "human-readable uptime",
          "[junctionctl][status]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "hello");

    const auto r = junctionctl(d, {"status"});
    INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
    REQUIRE(r.status == 0);
    const auto lines = lines_of(r.out);
    REQUIRE(!lines.empty());
    CHECK(lines[0] == "socket: " + d.socket());
    std::vector<std::string> keys;
    for (const auto& line : lines) keys.push_back(line.substr(0, line.find(": ")));
    CHECK(keys == std::vector<std::string>{"socket", "version", "uptime", "connections", "sessions",
                                           "services", "sessions_opened", "packets_routed",
                                           "bytes_routed", "late_packets"});
    CHECK(r.out.find("\nservices: 1\n") != std::string::npos);
    // The provider and junctionctl itself.
    CHECK(r.out.find("\nconnections: 2\n") != std::string::npos);
    const auto& uptime = lines[2];
    CHECK(uptime.size() > std::string("uptime: ").size());
    CHECK(uptime.back() == 's');  // "0.123s", or "1m 2s" for longer
}

TEST_CASE("junctionctl status --json: every daemon-info field, as JSON",
          "[junctionctl][status][json]") {
    temp_dir dir;
    daemon_process d(dir);
    const auto version = run_command({JUNCTIOND_PATH, "--version"});
    REQUIRE(version.status == 0);

    const auto r = junctionctl(d, {"status", "--json"});
    INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
    REQUIRE(r.status == 0);
    const auto json = boost::json::parse(r.out).as_object();
    CHECK(version.out.find(std::string(json.at("version").as_string())) != std::string::npos);
    for (const char* key : {"uptime_ms", "connections", "sessions", "services", "sessions_opened",
                            "packets_routed", "bytes_routed"}) {
        INFO("key " << key);
        REQUIRE(json.contains(key));
        CHECK(json.at(key).to_number<long>() >= 0);
    }
    CHECK(json.at("connections").to_number<int>() == 1);  // junctionctl itself
}

TEST_CASE("junctionctl with no daemon behind --socket exits 3 and says it cannot connect",
          "[junctionctl][errors]") {
    temp_dir dir;
    // A path with nothing there, and a stale socket file nobody listens on.
    const std::string missing = dir.file("missing.sock"), stale = dir.file("stale.sock");
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        stale.copy(addr.sun_path, sizeof addr.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
        ::close(fd);
    }
    for (const auto& socket : {missing, stale}) {
        for (const auto& command : {std::vector<std::string>{"list"},
                                    std::vector<std::string>{"status", "--json"},
                                    std::vector<std::string>{"call", "echo", "hi"}}) {
            std::vector<std::string> argv{junctionctl_path, "--socket", socket};
            argv.insert(argv.end(), command.begin(), command.end());
            const auto r = run_command(argv);
            INFO("socket " << socket << ", command " << command[0] << "\nstderr: " << r.err);
            CHECK(r.status == 3);
            CHECK(r.out.empty());
            CHECK(r.err.find("cannot connect") != std::string::npos);
            CHECK(r.err.find(socket) != std::string::npos);
        }
    }
}

TEST_CASE("junctionctl takes its default socket from $JUNCTION_SOCKET", "[junctionctl][socket]") {
    temp_dir dir;
    daemon_process d(dir);
    const auto r = run_command({junctionctl_path, "status"}, default_timeout,
                               {"JUNCTION_SOCKET=" + d.socket()});
    INFO("stderr: " << r.err);
    REQUIRE(r.status == 0);
    CHECK(r.out.rfind("socket: " + d.socket() + "\n", 0) == 0);
}
