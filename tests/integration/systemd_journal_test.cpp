// Logging to journald: when systemd connects stderr to the journal it sets
// JOURNAL_STREAM=<st_dev>:<st_ino> of that stream. junctiond then prints
// "<N>" syslog priorities and no timestamps (the journal adds its own). The
// test makes the log file junctiond's stderr and sets JOURNAL_STREAM to the
// file's device and inode, which is exactly what junctiond checks.
#include <catch2/catch.hpp>

#include <cctype>
#include <csignal>
#include <fcntl.h>
#include <fstream>
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

bool digits(std::string_view s, std::size_t at, std::size_t n) {
    if (at + n > s.size()) return false;
    for (std::size_t i = at; i < at + n; ++i)
        if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
}

// "<N>" then the message: N a syslog priority 0..7.
bool has_priority_prefix(std::string_view line) {
    return line.size() > 3 && line[0] == '<' && line[1] >= '0' && line[1] <= '7' &&
           line[2] == '>' && !std::isspace(static_cast<unsigned char>(line[3]));
}

// A date (2024-01-31) or a time of day (12:34:56) anywhere in the line.
bool has_timestamp(std::string_view line) {
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (digits(line, i, 4) && i + 10 <= line.size() && line[i + 4] == '-' &&
            digits(line, i + 5, 2) && line[i + 7] == '-' && digits(line, i + 8, 2))
            return true;
        if (digits(line, i, 2) && i + 8 <= line.size() && line[i + 2] == ':' &&
            digits(line, i + 3, 2) && line[i + 5] == ':' && digits(line, i + 6, 2))
            return true;
    }
    return false;
}

}  // namespace

TEST_CASE("stderr is the journal stream: lines carry <N> priorities and no timestamps",
          "[systemd][journal]") {
    temp_dir dir;
    const std::string log = dir.file("stderr.log");
    const auto lines = run_and_log(dir, log, dev_ino(log));
    REQUIRE_FALSE(lines.empty());
    bool info = false, warning = false;
    for (const auto& line : lines) {
        INFO(line);
        CHECK(has_priority_prefix(line));
        CHECK_FALSE(has_timestamp(line));
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
        CHECK(has_timestamp(line.substr(0, 19)));  // "2024-01-31 12:34:56" first
    }
}
