// Integration-test harness: the real junctiond on a socket in a temp dir, and
// raw-frame clients. Every wait has a deadline; nothing sleeps to synchronise.
//
//   temp_dir dir;
//   daemon_process d(dir, {"--max-queued-bytes", "200000"});
//   raw_client c(d.socket());
//   c.send(proto::packet_type::request, 1, "echo hi");
//   auto p = c.recv();            // throws on timeout or EOF
//   CHECK(p.code() == 200);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "junction/proto/header.hpp"

namespace junction::test {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
inline constexpr auto default_timeout = std::chrono::milliseconds(5000);

// Polls `pred` (cheaply, every millisecond) until it is true or the deadline passes.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = default_timeout);

class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
    std::string path_;
};

// Runs a program with arguments; returns its exit status, stdout and stderr.
struct run_result {
    int status = -1;  // exit code, or 128 + signal
    std::string out;
    std::string err;
};
run_result run_command(const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout = default_timeout,
                       const std::vector<std::string>& extra_env = {});

class child_process {
public:
    // Starts argv[0] with stdout and stderr appended to `log_path`.
    child_process(const std::vector<std::string>& argv, const std::string& log_path,
                  const std::vector<std::string>& extra_env = {});
    ~child_process();  // SIGKILL + reap if still running
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const { return pid_; }
    void signal(int sig) const;
    // Waits for exit; returns the exit code (or 128 + signal), nullopt on timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout = default_timeout);
    bool running();

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

class daemon_process {
public:
    // Starts junctiond --socket <dir>/junction.sock --log-level debug <extra...> and
    // waits until the socket accepts connections.
    explicit daemon_process(const temp_dir& dir, std::vector<std::string> extra_args = {},
                            std::string socket_name = "junction.sock");
    ~daemon_process();  // SIGTERM, then SIGKILL after a deadline

    const std::string& socket() const { return socket_; }
    pid_t pid() const { return proc_->pid(); }
    child_process& process() { return *proc_; }
    std::string log() const;
    // Resident set size of the daemon in KiB (from /proc/<pid>/status).
    long rss_kib() const;

private:
    std::string socket_;
    std::string log_path_;
    std::optional<child_process> proc_;
};

// True when a connect() to `path` succeeds.
bool socket_accepts(const std::string& path);

// CPU time a process has used (user + system), in clock ticks (sysconf(_SC_CLK_TCK) per second).
long cpu_ticks(pid_t pid);

// The whole contents of a file ("" if it cannot be read).
std::string read_file(const std::string& path);
// Replaces a file's contents (a config file before a SIGHUP, say).
void write_file(const std::string& path, const std::string& text);

struct packet {
    proto::header hdr;
    std::string payload;

    std::uint8_t type() const { return hdr.type; }
    std::uint32_t id() const { return hdr.id; }
    // The 3-digit code of a RESPONSE/UPDATE (0 if the payload has no code line).
    int code() const;
    std::string content() const;  // after the code line's '\n'
    std::string message() const;  // the code line's text after the code
};

// A blocking Unix-socket client speaking raw frames.
class raw_client {
public:
    explicit raw_client(const std::string& socket_path);
    ~raw_client();
    raw_client(raw_client&& o) noexcept;
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;

    int fd() const { return fd_; }
    void send(proto::packet_type type, std::uint32_t id, std::string_view payload);
    void send_raw(std::string_view bytes);
    // Next packet; throws std::runtime_error on timeout or end of stream.
    packet recv(std::chrono::milliseconds timeout = default_timeout);
    std::optional<packet> try_recv(std::chrono::milliseconds timeout);
    // True if the daemon closes the connection (EOF or reset) before the deadline;
    // packets that arrive first are skipped and returned through `seen`.
    bool wait_closed(std::chrono::milliseconds timeout = default_timeout,
                     std::vector<packet>* seen = nullptr);
    void close();

    // Convenience: REQUEST line, wait for the first RESPONSE on that id.
    packet request(std::uint32_t id, std::string_view line,
                   std::chrono::milliseconds timeout = default_timeout);
    // register-service <name> through a one-off session (id from a private counter), then 103.
    void register_service(std::string_view name);

private:
    bool fill(std::chrono::milliseconds timeout);
    int fd_ = -1;
    std::string buf_;
    std::uint32_t next_id_ = 0x70000000;
};

// A raw client on `socket` that has registered `service` (its registration session is over).
raw_client provider_of(const std::string& socket, std::string_view service);
// `client` opens `line` with `id`; returns the id the provider sees, after checking
// that the next packet on `provider` is that REQUEST with the payload unchanged.
std::uint32_t open_session(raw_client& client, std::uint32_t id, std::string_view line,
                           raw_client& provider,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

std::string encode(proto::packet_type type, std::uint32_t id, std::string_view payload);

// Whole packets as hex ("01 03 00 09 ..."), so byte-exact checks print readably.
// In their own namespace: tests that compare bytes say `using namespace wire;`.
namespace wire {
std::string hex(std::string_view bytes);
std::string request(std::uint32_t id, std::string_view payload);
std::string response(std::uint32_t id, std::string_view payload);
std::string update(std::uint32_t id, std::string_view payload);
std::string as_hex(const packet& p);
// The next packet the daemon sends to `c`, as hex; throws on timeout or EOF.
std::string next(raw_client& c, std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
// Proves the daemon has queued nothing else for `c`: the daemon answers a
// connection's packets in order, so an echo's answer must be the very next packet.
void expect_nothing_queued(raw_client& c);
// The next packet on `c` must be `type` on `id` carrying `code`; returned for more checks.
packet expect_code(raw_client& c, proto::packet_type type, std::uint32_t id, int code,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
}  // namespace wire

}  // namespace junction::test
