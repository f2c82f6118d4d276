// `junctionctl rpc <service> <function> [args...]` end to end: the real
// junctionctl binary against the real junctiond and a library provider of
// "calc" (on its own thread while junctionctl runs).
#include "rpc_support.hpp"

using namespace junction::test;
using namespace rpc_test;

namespace {

const std::string junctionctl = JUNCTION_BUILD_DIR "/tools/junctionctl/junctionctl";

run_result ctl(const daemon_process& d, std::vector<std::string> args) {
    std::vector<std::string> argv{junctionctl, "--socket", d.socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, 15s);
}

}  // namespace

TEST_CASE("junctionctl rpc: prints ret as JSON, arguments parsed as JSON or taken as strings",
          "[rpc][ctl]") {
    temp_dir dir;
    daemon_process d(dir);
    provider_thread provider(d.socket(), calc_service());

    auto r = ctl(d, {"rpc", "calc", "add", "2", "40"});
    CHECK(r.status == 0);
    CHECK(r.out == "42\n");
    CHECK(r.err.empty());

    r = ctl(d, {"rpc", "calc", "greet", "world"});  // not JSON: a string
    CHECK(r.out == "\"hello, world\"\n");
    r = ctl(d, {"rpc", "calc", "greet", "\"42\""});  // a JSON string that looks like a number
    CHECK(r.out == "\"hello, 42\"\n");
    r = ctl(d, {"rpc", "calc", "echo", "{\"a\": [1, true, null]}"});
    CHECK(r.out == "{\"a\":[1,true,null]}\n");
    r = ctl(d, {"rpc", "calc", "echo", "not json {"});
    CHECK(r.out == "\"not json {\"\n");
    r = ctl(d, {"rpc", "calc", "add", "-2", "40"});  // negative numbers are arguments, not options
    CHECK(r.status == 0);
    CHECK(r.out == "38\n");
    r = ctl(d, {"rpc", "calc", "greet", "--", "-x"});
    CHECK(r.out == "\"hello, -x\"\n");
    r = ctl(d, {"rpc", "calc", "is_even", "10"});
    CHECK(r.out == "true\n");
    r = ctl(d, {"rpc", "calc", "nothing"});
    CHECK(r.out == "null\n");
    r = ctl(d, {"rpc", "calc", "users"});
    CHECK(r.out == "[{\"name\":\"ann\",\"id\":1},{\"name\":\"bob\",\"id\":2}]\n");
    r = ctl(d, {"rpc", "calc", "sum", "[1,2,3]"});  // one argument, not three
    CHECK(r.out == "6\n");
    CHECK(r.err == "");
    r = ctl(d, {"rpc", "calc", "echo", "[a,b]"});  // not JSON: a string, as it is
    CHECK(r.out == "\"[a,b]\"\n");
}

TEST_CASE("junctionctl rpc --json prints the whole result object", "[rpc][ctl]") {
    temp_dir dir;
    daemon_process d(dir);
    provider_thread provider(d.socket(), calc_service());

    auto r = ctl(d, {"--json", "rpc", "calc", "add", "2", "40"});
    CHECK(r.status == 0);
    CHECK(r.out == "{\"ret\":42}\n");
    r = ctl(d, {"rpc", "calc", "info", "--json"});
    CHECK(r.out == "{\"ret\":{\"name\":\"calc\",\"version\":1}}\n");
    r = ctl(d, {"--json", "rpc", "calc", "fail"});
    CHECK(r.status == 1);
    CHECK(r.out == "{\"err_code\":520,\"err_msg\":\"boom\"}\n");
    CHECK(r.err == "junctionctl: 520: boom\n");
}

TEST_CASE("junctionctl rpc: an error result is exit 1 with <err_code>: <err_msg> on stderr",
          "[rpc][ctl]") {
    temp_dir dir;
    daemon_process d(dir);
    provider_thread provider(d.socket(), calc_service());

    auto r = ctl(d, {"rpc", "calc", "fail"});
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "junctionctl: 520: boom\n");
    r = ctl(d, {"rpc", "calc", "deny"});
    CHECK(r.status == 1);
    CHECK(r.err == "junctionctl: 403: not allowed\n");
    r = ctl(d, {"rpc", "calc", "no_such"});
    CHECK(r.status == 1);
    CHECK(r.err == "junctionctl: 500: no such function: no_such\n");
    r = ctl(d, {"rpc", "calc", "add", "1", "x"});
    CHECK(r.status == 1);
    CHECK(r.err == "junctionctl: 511: add: argument 2: expected integer, got string\n");
    r = ctl(d, {"rpc", "nosuch", "f"});
    CHECK(r.status == 1);
    CHECK(r.err == "junctionctl: 501: unknown service nosuch\n");
}

TEST_CASE("junctionctl rpc: timeouts, no junctiond and bad usage have their own exit statuses",
          "[rpc][ctl]") {
    temp_dir dir;
    daemon_process d(dir);
    provider_thread provider(d.socket(), calc_service());

    auto r = ctl(d, {"--timeout", "200", "rpc", "calc", "sleep", "3000"});
    CHECK(r.status == 4);
    CHECK(r.err.find("no answer within 200 ms") != std::string::npos);

    r = run_command(
        {junctionctl, "--socket", dir.file("none.sock"), "rpc", "calc", "add", "1", "2"}, 15s);
    CHECK(r.status == 3);
    CHECK(r.err.find("cannot connect to junctiond") != std::string::npos);

    r = ctl(d, {"rpc", "calc"});  // no function
    CHECK(r.status == 2);
    r = ctl(d, {"rpc", "bad name!", "f"});
    CHECK(r.status == 2);
    std::vector<std::string> too_many{"rpc", "calc", "sum"};
    for (int i = 0; i < 33; ++i) too_many.push_back(std::to_string(i));
    r = ctl(d, too_many);
    CHECK(r.status == 2);
}
