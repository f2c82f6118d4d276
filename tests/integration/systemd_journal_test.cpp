// Logging to journald: when systemd connects stderr to the journal it sets
// JOURNAL_STREAM=<st_dev>:<st_ino> of that stream. junctiond then prints
// "<N>" syslog priorities and no timestamps (the journal adds its own). The
// test makes the log file junctiond's stderr and sets JOURNAL_STREAM to the
// file's device and inode, which is exactly what junctiond checks.
#include <catch2/catch.hpp>

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.hpp"

using namespace junction::test;

namespace {

std::string dev_ino(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    struct stat st{};
    ::fstat(fd, &st);
    ::close(fd);
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

// Runs junctiond with `journal_stream` in JOURNAL_STREAM, makes it log at info
// and warn level (a connection, a bad header), stops it; returns its log lines.
std::vector<std::string> run_and_log(const temp_dir& dir, const std::string& log,
                                     const std::string& journal_stream) {
    const std::string sock = dir.file("junction.sock");
    child_process d({JUNCTIOND_PATH, "--socket", sock, "--log-level", "debug"}, log,
                    {"JOURNAL_STREAM=" + journal_stream});
    REQUIRE(wait_until([&] { return socket_accepts(sock) || !d.running(); }));
    {
        raw_client c(sock);
        CHECK(c.request(1, "echo x").code() == 200);
        raw_client bad(sock);  // version 2: answered 508, logged as a warning, closed
        bad.send_raw(std::string("\x02\x02\x00\x00\x00\x00\x00\x01", 8));
        CHECK(bad.wait_closed());
    }
    d.signal(SIGTERM);
    CHECK(d.wait_exit() == 0);
    return lines_of(log);
}

}  // namespace

TEST_CASE("stderr is the journal stream: lines carry <N> priorities and no timestamps",
          "[systemd][journal]") {
    temp_dir dir;
    const std::string log = dir.file("stderr.log");
    const auto lines = run_and_log(dir, log, dev_ino(log));
    REQUIRE_FALSE(lines.empty());
    const std::regex prefixed(R"(^<[0-7]>\S.*)");
    const std::regex timestamp(R"(\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d)");
    bool info = false, warning = false;
    for (const auto& line : lines) {
        INFO(line);
        CHECK(std::regex_match(line, prefixed));
        CHECK_FALSE(std::regex_search(line, timestamp));
        info = info || line.rfind("<6>junctiond ", 0) == 0;
        warning = warning || (line.rfind("<4>", 0) == 0 && line.find("version") != std::string::npos);
    }
    CHECK(info);     // "<6>junctiond 0.1.0 listening on ..."
    CHECK(warning);  // "<4>conn 2 (pid ... uid ...): version mismatch ..."
}

TEST_CASE("JOURNAL_STREAM naming another file: the usual timestamped lines",
          "[systemd][journal]") {
    temp_dir dir;
    const std::string log = dir.file("stderr.log");
    const std::string other = dir.file("other");
    const auto lines = run_and_log(dir, log, dev_ino(other));
    REQUIRE_FALSE(lines.empty());
    for (const auto& line : lines) {
        INFO(line);
        CHECK(line.rfind("<", 0) != 0);
        CHECK(std::regex_search(line, std::regex(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")));
    }
}
