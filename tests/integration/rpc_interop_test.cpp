// Interop with Debian's libsearpc clients through junctiond's named-pipe
// gateway (docs/protocol.md §10): python3-searpc's NamedPipeClient and a C
// program on libsearpc's named-pipe client call a library rpc::service
// ("calc", on its own thread) exactly as they would call a libsearpc server.
//
// The client programs live in tests/interop/. The Python one runs with
// /usr/bin/python3 (Debian's modules; a python3 earlier in PATH may lack them);
// the C one is compiled here at run time with pkg-config's flags for libsearpc.
// Either test is skipped, with a message saying why, where its toolchain is missing.
#include <map>
#include <sstream>
#include <sys/stat.h>

#include <boost/json/parse.hpp>

#include "rpc_support.hpp"

using namespace junction::test;
using namespace rpc_test;

namespace {

const std::string interop_dir = JUNCTION_SOURCE_DIR "/tests/interop";
const std::string system_python = "/usr/bin/python3";

bool executable(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IXUSR) != 0;
}

// junctiond with the gateway on <dir>/searpc.sock, and calc registered.
struct gateway_setup {
    explicit gateway_setup(const temp_dir& dir)
        : searpc(dir.file("searpc.sock")),
          daemon(dir, {"--searpc-socket", searpc}),
          provider(daemon.socket(), calc_service()) {
        REQUIRE(wait_until([&] { return socket_accepts(searpc); }));
    }
    std::string searpc;
    daemon_process daemon;
    provider_thread provider;
};

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// "name ret ..." / "name error ..." lines of the C client, by name.
std::map<std::string, std::string> lines_by_name(const std::string& out) {
    std::map<std::string, std::string> m;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        const auto space = line.find(' ');
        if (space != std::string::npos) m[line.substr(0, space)] = line.substr(space + 1);
    }
    return m;
}

}  // namespace

TEST_CASE("interop: python3-searpc NamedPipeClient calls a library service through the gateway",
          "[rpc][interop]") {
    if (!executable(system_python) ||
        run_command({system_python, "-c", "import pysearpc"}, 15s).status != 0) {
        WARN("skipped: " + system_python + " cannot import pysearpc (install python3-searpc)");
        return;
    }
    temp_dir dir;
    gateway_setup g(dir);

    const auto r = run_command({system_python, interop_dir + "/searpc_client.py", g.searpc}, 60s);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.status == 0);
    const json::object results = json::parse(r.out).as_object();
    const auto ret = [&](const char* name) { return results.at(name).as_object().at("ret"); };
    const auto error = [&](const char* name) { return results.at(name).as_object().at("error"); };

    CHECK(ret("add") == 42);
    CHECK(ret("greet") == "hello, searpc");
    CHECK(ret("is_even") == true);
    const json::object info = {{"name", "calc"}, {"version", 1}};
    CHECK(ret("info") == info);
    const json::array users = {"ann", "bob"};
    CHECK(ret("users") == users);
    const json::object nested = {{"a", json::array{1, nullptr, "x"}}};
    CHECK(ret("echo") == nested);
    // A 200 kB argument and a 3 MiB result: chunked on the session behind the gateway.
    CHECK(ret("length") == 200000);
    CHECK(ret("big") == 3 * 1024 * 1024);
    CHECK(error("fail") == "boom");
    CHECK(error("deny") == "not allowed");
    CHECK(error("no_such") == "no such function: no_such");
    CHECK(error("unknown_service") == "unknown service nosuch");
    CHECK(ret("add_again") == 2);
}

TEST_CASE("interop: a C program on Debian's libsearpc calls a library service through the gateway",
          "[rpc][interop]") {
    const auto flags = run_command({"pkg-config", "--cflags", "--libs", "libsearpc"}, 15s);
    if (flags.status != 0) {
        WARN("skipped: pkg-config cannot find libsearpc (install libsearpc-dev): " + flags.err);
        return;
    }
    temp_dir dir;
    const std::string program = dir.file("searpc_client");
    std::vector<std::string> cc{"cc",      "-std=c11", "-Wall", "-Wextra",
                                "-Werror", "-o",       program, interop_dir + "/searpc_client.c"};
    for (auto& w : words(flags.out)) cc.push_back(w);
    const auto built = run_command(cc, 60s);
    INFO("cc: " << built.err);
    REQUIRE(built.status == 0);

    gateway_setup g(dir);
    const auto r = run_command({program, g.searpc}, 30s);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.status == 0);
    auto line = lines_by_name(r.out);
    CHECK(line["add"] == "ret 42");
    CHECK(line["greet"] == "ret hello, libsearpc");
    CHECK(line["length"] == "ret 10");
    CHECK(line["info"] == R"(ret {"name":"calc","version":1})");
    CHECK(line["users"] == R"(ret [{"id":1,"name":"ann"},{"id":2,"name":"bob"}])");
    CHECK(line["fail"] == "error 520 boom");
    CHECK(line["deny"] == "error 403 not allowed");
    CHECK(line["no_such"] == "error 500 no such function: no_such");
    CHECK(line["add_again"] == "ret 2");
    CHECK(line["unknown_service"] == "error 501 unknown service nosuch");
}
