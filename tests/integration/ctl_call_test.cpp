// junctionctl call, end to end: the real junctiond, a raw provider played by
// the test, and the built junctionctl binary.
//
// Flow of a test: junctionctl runs in the background (std::async around
// run_command, which has its own deadline) while the test thread plays the
// provider packet by packet, checking what junctionctl sent; then the test
// checks junctionctl's exit status, stdout and stderr.
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <csignal>
#include <future>
#include <poll.h>
#include <pty.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "harness.hpp"

using namespace junction::test;
using junction::proto::packet_type;

namespace {

const std::string junctionctl_path = JUNCTION_BUILD_DIR "/tools/junctionctl/junctionctl";
constexpr auto due = std::chrono::milliseconds(3000);  // how long a packet that is due may take

std::vector<std::string> command_line(const daemon_process& d,
                                      const std::vector<std::string>& args) {
    std::vector<std::string> argv{junctionctl_path, "--socket", d.socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

run_result junctionctl(const daemon_process& d, const std::vector<std::string>& args) {
    return run_command(command_line(d, args));
}

// Runs junctionctl in the background; get() the result when the provider's part is done.
std::future<run_result> junctionctl_async(const daemon_process& d,
                                          const std::vector<std::string>& args) {
    return std::async(std::launch::async,
                      [argv = command_line(d, args)] { return run_command(argv); });
}

std::vector<boost::json::object> json_lines(const std::string& text) {
    std::vector<boost::json::object> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(boost::json::parse(line).as_object());
    return out;
}

}  // namespace

TEST_CASE("junctionctl call echo hello prints hello and exits 0", "[junctionctl][call]") {
    temp_dir dir;
    daemon_process d(dir);
    const auto r = junctionctl(d, {"call", "echo", "hello"});
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "hello");  // stdout is not a terminal: the content exactly, no newline added
    CHECK(r.err.empty());
}

TEST_CASE("junctionctl call sends REQUEST '<service> args...', then each --update in order. Every "
          "response is printed in order and the session ends with UPDATE 103",
          "[junctionctl][call]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "chat");

    auto ctl = junctionctl_async(
        d, {"call", "chat", "a", "b", "--update", "200:ping", "--update", "301:[\"add\",2,40]"});
    const packet req = provider.recv(due);
    CHECK(req.type() == 2);
    CHECK(req.payload == "chat a b");
    provider.send(packet_type::response, req.id(), "200 OK\nfirst\n");
    const packet u1 = provider.recv(due);
    CHECK(u1.type() == 4);
    CHECK(u1.id() == req.id());
    CHECK(u1.code() == 200);
    CHECK(u1.content() == "ping");
    provider.send(packet_type::response, req.id(), "200 OK\nsecond: ping\n");
    const packet u2 = provider.recv(due);
    CHECK(u2.code() == 301);
    CHECK(u2.content() == "[\"add\",2,40]");
    provider.send(packet_type::response, req.id(), "311 SERVER RET\n{\"ret\":42}");
    const packet done = provider.recv(due);
    CHECK(done.type() == 4);
    CHECK(done.id() == req.id());
    CHECK(done.payload == "103\n");

    const auto r = ctl.get();
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "first\nsecond: ping\n{\"ret\":42}");
    CHECK(r.err.empty());
}

TEST_CASE("junctionctl call --json prints one JSON object per response. Content that is not "
          "UTF-8 comes as content_base64",
          "[junctionctl][call][json]") {
    temp_dir dir;
    daemon_process d(dir);
    const auto r = junctionctl(d, {"call", "echo", "hi", "--json", "--update", "200:caf\xc3\xa9",
                                   "--update", "200:\xff\xfe"});
    INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
    REQUIRE(r.status == 0);
    const auto objects = json_lines(r.out);
    REQUIRE(objects.size() == 3);
    for (const auto& o : objects) {
        CHECK(o.at("code").to_number<int>() == 200);
        CHECK(o.at("message").as_string() == "OK");
    }
    CHECK(objects[0].at("content").as_string() == "hi");
    CHECK(objects[1].at("content").as_string() == "caf\xc3\xa9");
    CHECK_FALSE(objects[2].contains("content"));
    CHECK(objects[2].at("content_base64").as_string() == "//4=");
}

TEST_CASE("junctionctl call of an unknown service exits 1 with '511 ...' on stderr (and as JSON "
          "with --json)",
          "[junctionctl][call][errors]") {
    temp_dir dir;
    daemon_process d(dir);
    const auto r = junctionctl(d, {"call", "nosuch", "x", "--update", "200:never sent"});
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("junctionctl: 511 ") != std::string::npos);
    CHECK(r.err.find("nosuch") != std::string::npos);

    const auto j = junctionctl(d, {"--json", "call", "nosuch"});
    CHECK(j.status == 1);
    const auto objects = json_lines(j.out);
    REQUIRE(objects.size() == 1);
    CHECK(objects[0].at("code").to_number<int>() == 511);
    CHECK(j.err.find("junctionctl: 511 ") != std::string::npos);
}

TEST_CASE("junctionctl call: a 4xx/5xx answer to an --update ends the call with exit 1, what came "
          "before is printed",
          "[junctionctl][call][errors]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "picky");

    auto ctl =
        junctionctl_async(d, {"call", "picky", "--update", "200:bad", "--update", "200:more"});
    const packet req = provider.recv(due);
    provider.send(packet_type::response, req.id(), "200 OK\nready\n");
    CHECK(provider.recv(due).content() == "bad");
    provider.send(packet_type::response, req.id(), "503 bad args\ndetails");
    // The error ended the session: junctionctl sends nothing more, and exits.
    const auto r = ctl.get();
    CHECK(r.status == 1);
    CHECK(r.out == "ready\ndetails");
    CHECK(r.err.find("junctionctl: 503 bad args") != std::string::npos);
    CHECK_FALSE(provider.try_recv(std::chrono::milliseconds(100)).has_value());
}

TEST_CASE("junctionctl call: a session the service ends at once (103) cannot take --update: "
          "exit 1",
          "[junctionctl][call][errors]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "brief");

    auto ctl = junctionctl_async(d, {"call", "brief", "--update", "200:x"});
    const packet req = provider.recv(due);
    provider.send(packet_type::response, req.id(), "103\nthat is all");
    const auto r = ctl.get();
    CHECK(r.status == 1);
    CHECK(r.out == "that is all");
    CHECK(r.err.find("ended (103)") != std::string::npos);
    CHECK(r.err.find("--update 200:x") != std::string::npos);
}

TEST_CASE("junctionctl call skips keep-alives (100) and reassembles a chunked response (312, "
          "acknowledged with 302)",
          "[junctionctl][call][chunks]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "big");

    auto ctl = junctionctl_async(d, {"call", "big", "--json"});
    const packet req = provider.recv(due);
    provider.send(packet_type::response, req.id(), "100\n");
    provider.send(packet_type::response, req.id(), "312 HAS MORE\n" + std::string(1000, 'a'));
    const packet more = provider.recv(due);
    CHECK(more.type() == 4);
    CHECK(more.code() == 302);
    provider.send(packet_type::response, req.id(), "200 OK\n" + std::string(10, 'b'));
    CHECK(provider.recv(due).payload == "103\n");

    const auto r = ctl.get();
    INFO("stderr: " << r.err);
    REQUIRE(r.status == 0);
    const auto objects = json_lines(r.out);
    REQUIRE(objects.size() == 1);
    CHECK(objects[0].at("code").to_number<int>() == 200);
    CHECK(objects[0].at("content").as_string() == std::string(1000, 'a') + std::string(10, 'b'));
}

TEST_CASE("junctionctl call sends an --update too long for one packet in 312 chunks, waiting for "
          "302 after each",
          "[junctionctl][call][chunks]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "sink");
    const std::string text(70000, 'x');

    auto ctl = junctionctl_async(d, {"call", "sink", "--update", "200:" + text});
    const packet req = provider.recv(due);
    provider.send(packet_type::response, req.id(), "200 OK\nready ");
    std::string received;
    packet p = provider.recv(due);
    CHECK(p.code() == 312);
    CHECK(p.hdr.length == 65535);
    received += p.content();
    provider.send(packet_type::response, req.id(), "302 MORE\n");
    p = provider.recv(due);
    CHECK(p.code() == 200);
    received += p.content();
    CHECK(received == text);
    provider.send(packet_type::response, req.id(),
                  "200 OK\ngot " + std::to_string(received.size()));
    CHECK(provider.recv(due).payload == "103\n");

    const auto r = ctl.get();
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "ready got 70000");
}

TEST_CASE("junctionctl call: a provider that never answers makes junctionctl exit 4 after "
          "--timeout 200, and the provider learns the session is over",
          "[junctionctl][call][timeout]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "silent");

    const auto start = clock::now();
    const auto r = junctionctl(d, {"call", "silent", "--timeout", "200"});
    const auto took = clock::now() - start;
    INFO("stderr: " << r.err);
    CHECK(r.status == 4);
    CHECK(r.out.empty());
    CHECK(r.err.find("200 ms") != std::string::npos);
    CHECK(took >= std::chrono::milliseconds(200));
    CHECK(took < std::chrono::milliseconds(3000));

    const packet req = provider.recv(due);
    CHECK(req.payload == "silent");
    const packet end =
        provider.recv(due);  // 103 from junctionctl, or 515 if it was faster to leave
    CHECK(end.id() == req.id());
    CHECK((end.code() == 103 || end.code() == 515));
}

TEST_CASE("junctionctl call: the daemon dying mid-session is a lost connection, exit 3",
          "[junctionctl][call][errors]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "doomed");

    auto ctl = junctionctl_async(d, {"call", "doomed"});
    CHECK(provider.recv(due).payload == "doomed");  // the session is open
    d.process().signal(SIGKILL);
    const auto r = ctl.get();
    INFO("stderr: " << r.err);
    CHECK(r.status == 3);
    CHECK(r.err.find("lost") != std::string::npos);
}

TEST_CASE("junctionctl call: arguments after -- may start with '-'", "[junctionctl][call]") {
    temp_dir dir;
    daemon_process d(dir);
    const auto r = junctionctl(d, {"call", "echo", "--", "-n", "--x"});
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "-n --x");
}

TEST_CASE("junctionctl call: a bracketed argument such as [a,b] is one word of the REQUEST line, "
          "as typed (CLI11 does not split it)",
          "[junctionctl][call]") {
    temp_dir dir;
    daemon_process d(dir);
    auto r = junctionctl(d, {"call", "echo", "[a,b]"});
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "[a,b]");
    r = junctionctl(d, {"call", "echo", "x", "[1,,2]", "[]", "y", "--update", "200:[c,d]"});
    CHECK(r.status == 0);
    CHECK(r.out == "x [1,,2] [] y[c,d]");  // the first answer, then the echo of the UPDATE
    // Up to 64 words; one more is a usage error.
    std::vector<std::string> words{"call", "echo"};
    for (int k = 0; k < 64; ++k) words.push_back("[" + std::to_string(k) + "]");
    r = junctionctl(d, words);
    CHECK(r.status == 0);
    CHECK(r.out.substr(0, 12) == "[0] [1] [2] ");
    words.push_back("extra");
    r = junctionctl(d, words);
    CHECK(r.status == 2);
}

TEST_CASE("junctionctl call on a terminal adds a newline after content that lacks one, and only "
          "there",
          "[junctionctl][call][tty]") {
    temp_dir dir;
    daemon_process d(dir);
    // junctionctl on a pseudo-terminal; its output is read from the master side.
    int master = -1;
    const auto argv = command_line(d, {"call", "echo", "hello", "--update", "200:line\n"});
    const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    std::string out;
    const auto deadline = clock::now() + default_timeout;
    for (;;) {
        pollfd pfd{master, POLLIN, 0};
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
        char buf[256];
        const ssize_t n = ::read(master, buf, sizeof buf);
        if (n <= 0) break;  // EIO once junctionctl has exited and closed the terminal
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(master);
    int st = 0;
    const bool exited = wait_until([&] { return ::waitpid(pid, &st, WNOHANG) == pid; });
    if (!exited) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
    }
    REQUIRE(exited);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    // The terminal turns "\n" into "\r\n": one newline added after "hello", none after "line\n".
    CHECK(out == "hello\r\nline\r\n");
}
