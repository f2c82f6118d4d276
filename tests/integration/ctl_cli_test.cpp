// junctionctl's command line itself: --help of every command, --version, and
// usage errors (exit 2). No daemon is needed except where a test says so.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "harness.hpp"

using namespace junction::test;

namespace {

const std::string junctionctl_path = JUNCTION_BUILD_DIR "/tools/junctionctl/junctionctl";

run_result junctionctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{junctionctl_path};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

bool mentions(const std::string& text, const std::vector<std::string>& words) {
    for (const auto& w : words) {
        if (text.find(w) == std::string::npos) {
            UNSCOPED_INFO("missing: " << w);
            return false;
        }
    }
    return true;
}

}  // namespace

TEST_CASE("junctionctl --help lists the commands, the global options and the exit statuses",
          "[junctionctl][cli]") {
    const auto r = junctionctl({"--help"});
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(mentions(r.out, {"list", "status", "call", "--socket", "--json", "--timeout", "--version",
                           "Exit status", "Examples"}));
}

TEST_CASE("junctionctl <command> --help exits 0 and describes the command's options, the global "
          "ones and examples",
          "[junctionctl][cli]") {
    const std::vector<std::string> global{"--socket", "--json", "--timeout", "Examples:"};
    for (const auto& [command, own] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"list", {"junctionctl list", "NAME", "SESSIONS"}},
             {"status", {"junctionctl status", "uptime", "bytes_routed"}},
             {"call",
              {"junctionctl call", "service", "args", "--update", "CODE:TEXT", "Exit status"}}}) {
        for (const auto& help : {std::string("--help"), std::string("-h")}) {
            const auto r = junctionctl({command, help});
            INFO(command << " " << help << ":\n" << r.out << r.err);
            CHECK(r.status == 0);
            CHECK(mentions(r.out, global));
            CHECK(mentions(r.out, own));
        }
    }
}

TEST_CASE("junctionctl --version prints the project version", "[junctionctl][cli]") {
    const auto r = junctionctl({"--version"});
    CHECK(r.status == 0);
    const auto daemon = run_command({JUNCTIOND_PATH, "--version"});
    REQUIRE(daemon.status == 0);
    REQUIRE(r.out.rfind("junctionctl ", 0) == 0);
    std::string version = r.out.substr(std::string("junctionctl ").size());
    while (!version.empty() && version.back() == '\n') version.pop_back();
    CHECK(!version.empty());
    CHECK(daemon.out.find(version) != std::string::npos);
}

TEST_CASE("junctionctl usage errors exit 2 with a hint on stderr, before connecting",
          "[junctionctl][cli][errors]") {
    temp_dir dir;
    const std::string nowhere =
        dir.file("none.sock");  // a usage error must win over "cannot connect"
    const std::vector<std::vector<std::string>> cases{
        {},                                            // no command
        {"frobnicate"},                                // unknown command
        {"call"},                                      // no service
        {"list", "--no-such-option"},                  // unknown option
        {"call", "echo", "--update", "20:x"},          // CODE not three digits
        {"call", "echo", "--update", "200"},           // no ':'
        {"call", "echo", "--update", "600:x"},         // CODE over 599
        {"call", "echo", "--update", "103:", "--update", "200:x"},  // an ending UPDATE not last
        {"--timeout", "0", "list"},                    // timeout must be positive
        {"--timeout", "soon", "list"},
    };
    for (const auto& args : cases) {
        std::vector<std::string> argv{"--socket", nowhere};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = junctionctl(argv);
        std::string shown;
        for (const auto& a : args) shown += " " + a;
        INFO("junctionctl" << shown << "\nstderr: " << r.err);
        CHECK(r.status == 2);
        CHECK(r.err.rfind("junctionctl: ", 0) == 0);
        CHECK(r.err.find("--help") != std::string::npos);
    }
}

TEST_CASE("junctionctl call with a request line junctiond would refuse is a usage error, exit 2",
          "[junctionctl][cli][errors]") {
    temp_dir dir;
    daemon_process d(dir);
    const auto r = junctionctl({"--socket", d.socket(), "call", "bad!name"});
    INFO("stderr: " << r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find("invalid service name") != std::string::npos);
}
