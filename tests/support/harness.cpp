#include "harness.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace junction::test {

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    while (!pred()) {
        if (clock::now() >= deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

temp_dir::temp_dir() {
    std::string tmpl = "/tmp/junction-test-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    ::chmod(tmpl.c_str(), 0755);
    path_ = tmpl;
}

temp_dir::~temp_dir() {
    const std::string cmd = "rm -rf '" + path_ + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
}

namespace {

// The environment of a child: ours with `extra_env` applied ("K=V" sets, "K" removes).
std::vector<std::string> child_env(const std::vector<std::string>& extra_env) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    for (const auto& kv : extra_env) {
        const auto key = kv.substr(0, kv.find('=')) + "=";
        std::erase_if(env, [&](const std::string& e) { return e.starts_with(key); });
        if (kv.find('=') != std::string::npos) env.push_back(kv);
    }
    return env;
}

std::vector<char*> c_array(const std::vector<std::string>& v) {
    std::vector<char*> out;
    for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

// Starts argv[0] (looked up in PATH) with stdout and stderr opened on the given
// files. posix_spawn, not fork(): a test process has threads (providers, sync
// clients), and a forked child that allocates before exec can block forever on
// a lock another thread held at the fork (malloc's, ASan's allocator's).
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
            const std::string& out, const std::string& err, int open_flags) {
    const auto env = child_env(extra_env);
    auto args = c_array(argv);
    auto envp = c_array(env);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | open_flags, 0644);
    if (err == out)
        ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
    else
        ::posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | open_flags, 0644);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
    ::posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error("cannot start " + argv.at(0) + ": " + std::strerror(rc));
    return pid;
}

int decode_status(int st) {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

}  // namespace

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

run_result run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                       const std::vector<std::string>& extra_env) {
    temp_dir dir;
    const std::string out = dir.file("stdout"), err = dir.file("stderr");
    run_result r;
    pid_t pid = -1;
    try {
        pid = spawn(argv, extra_env, out, err, O_TRUNC);
    } catch (const std::runtime_error& e) {
        r.status = 127;  // what a shell reports for a command it cannot run
        r.err = e.what();
        return r;
    }
    int st = 0;
    const bool done = wait_until(
        [&] { return ::waitpid(pid, &st, WNOHANG) == pid; }, timeout);
    if (!done) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
        r.status = -1;
    } else {
        r.status = decode_status(st);
    }
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
}

child_process::child_process(const std::vector<std::string>& argv, const std::string& log_path,
                             const std::vector<std::string>& extra_env) {
    pid_ = spawn(argv, extra_env, log_path, log_path, O_APPEND);
}

child_process::~child_process() {
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGKILL);
        int st;
        ::waitpid(pid_, &st, 0);
    }
}

void child_process::signal(int sig) const { ::kill(pid_, sig); }

bool child_process::running() {
    if (status_) return false;
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = decode_status(st);
        return false;
    }
    return true;
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
    if (!wait_until([&] { return !running(); }, timeout)) return std::nullopt;
    return status_;
}

bool socket_accepts(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

long cpu_ticks(pid_t pid) {
    // /proc/<pid>/stat: fields 14 and 15, counted after "pid (comm) " (comm may hold spaces).
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) return -1;
    std::istringstream fields(stat.substr(close_paren + 2));
    std::string f;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14) utime = std::stol(f);
        if (i == 15) stime = std::stol(f);
    }
    return utime + stime;
}

daemon_process::daemon_process(const temp_dir& dir, std::vector<std::string> extra_args,
                               std::string socket_name)
    : socket_(dir.file(socket_name)), log_path_(dir.file(socket_name + ".log")) {
    std::vector<std::string> argv{JUNCTIOND_PATH, "--socket", socket_, "--log-level", "debug"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    proc_.emplace(argv, log_path_);
    if (!wait_until([&] { return socket_accepts(socket_) || !proc_->running(); }))
        throw std::runtime_error("junctiond did not start listening: " + log());
    if (!proc_->running()) throw std::runtime_error("junctiond exited at start: " + log());
}

daemon_process::~daemon_process() {
    if (proc_ && proc_->running()) {
        proc_->signal(SIGTERM);
        if (!proc_->wait_exit(5000ms)) proc_->signal(SIGKILL);
    }
}

std::string daemon_process::log() const { return read_file(log_path_); }

long daemon_process::rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(proc_->pid()) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

int packet::code() const {
    if (payload.size() < 3) return 0;
    for (int i = 0; i < 3; ++i)
        if (payload[i] < '0' || payload[i] > '9') return 0;
    return (payload[0] - '0') * 100 + (payload[1] - '0') * 10 + (payload[2] - '0');
}

std::string packet::content() const {
    const auto nl = payload.find('\n');
    return nl == std::string::npos ? std::string{} : payload.substr(nl + 1);
}

std::string packet::message() const {
    const auto nl = payload.find('\n');
    const std::string line = payload.substr(0, nl);
    return line.size() > 4 ? line.substr(4) : std::string{};
}

std::string encode(proto::packet_type type, std::uint32_t id, std::string_view payload) {
    const auto h = proto::encode_header(proto::header{1, static_cast<std::uint8_t>(type),
                                                      static_cast<std::uint16_t>(payload.size()), id});
    std::string out(reinterpret_cast<const char*>(h.data()), h.size());
    out += payload;
    return out;
}

namespace wire {

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char ch : bytes) {
        const auto b = static_cast<unsigned char>(ch);
        if (!out.empty()) out += ' ';
        out += digits[b >> 4];
        out += digits[b & 0xf];
    }
    return out;
}
std::string request(std::uint32_t id, std::string_view payload) {
    return hex(encode(proto::packet_type::request, id, payload));
}
std::string response(std::uint32_t id, std::string_view payload) {
    return hex(encode(proto::packet_type::response, id, payload));
}
std::string update(std::uint32_t id, std::string_view payload) {
    return hex(encode(proto::packet_type::update, id, payload));
}
std::string as_hex(const packet& p) {
    return hex(encode(static_cast<proto::packet_type>(p.type()), p.id(), p.payload));
}


std::string next(raw_client& c, std::chrono::milliseconds timeout) { return as_hex(c.recv(timeout)); }

void expect_nothing_queued(raw_client& c) {
    static std::uint32_t barrier_id = 0x7e000000;
    const std::uint32_t id = barrier_id++;
    c.send(proto::packet_type::request, id, "echo barrier");
    CHECK(next(c) == response(id, "200 OK\nbarrier"));
    c.send(proto::packet_type::update, id, "103\n");
}

packet expect_code(raw_client& c, proto::packet_type type, std::uint32_t id, int code,
                   std::chrono::milliseconds timeout) {
    const packet p = c.recv(timeout);
    INFO("payload: " << p.payload);
    CHECK(p.type() == static_cast<std::uint8_t>(type));
    CHECK(p.id() == id);
    CHECK(p.code() == code);
    return p;
}

}  // namespace wire

raw_client::raw_client(const std::string& socket_path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("connect " + socket_path + ": " + std::strerror(errno));
}

raw_client::~raw_client() { close(); }

raw_client::raw_client(raw_client&& o) noexcept
    : fd_(o.fd_), buf_(std::move(o.buf_)), next_id_(o.next_id_) {
    o.fd_ = -1;
}

void raw_client::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void raw_client::send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(std::string("send: ") + std::strerror(errno));
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

void raw_client::send(proto::packet_type type, std::uint32_t id, std::string_view payload) {
    send_raw(encode(type, id, payload));
}

// Reads whatever is available (waiting up to timeout); false on timeout, throws on EOF.
bool raw_client::fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc <= 0) return false;
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) throw std::runtime_error("connection closed by the daemon");
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
}

std::optional<packet> raw_client::try_recv(std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
        if (buf_.size() >= proto::header_size) {
            const auto h = proto::decode_header(std::span<const std::uint8_t, proto::header_size>(
                reinterpret_cast<const std::uint8_t*>(buf_.data()), proto::header_size));
            if (buf_.size() >= proto::header_size + h.length) {
                packet p{h, buf_.substr(proto::header_size, h.length)};
                buf_.erase(0, proto::header_size + h.length);
                return p;
            }
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0 || !fill(left)) return std::nullopt;
    }
}

packet raw_client::recv(std::chrono::milliseconds timeout) {
    auto p = try_recv(timeout);
    if (!p) throw std::runtime_error("timed out waiting for a packet");
    return *p;
}

bool raw_client::wait_closed(std::chrono::milliseconds timeout, std::vector<packet>* seen) {
    const auto deadline = clock::now() + timeout;
    try {
        while (clock::now() < deadline) {
            auto p = try_recv(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
            if (p && seen) seen->push_back(*p);
        }
    } catch (const std::runtime_error&) {
        return true;
    }
    return false;
}

packet raw_client::request(std::uint32_t id, std::string_view line, std::chrono::milliseconds timeout) {
    send(proto::packet_type::request, id, line);
    const auto deadline = clock::now() + timeout;
    for (;;) {
        auto p = recv(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
        if (p.type() == static_cast<std::uint8_t>(proto::packet_type::response) && p.id() == id)
            return p;
    }
}

void raw_client::register_service(std::string_view name) {
    const std::uint32_t id = next_id_++;
    const auto p = request(id, "register-service " + std::string(name));
    if (p.code() != 200) throw std::runtime_error("register-service failed: " + p.payload);
    send(proto::packet_type::update, id, "103\n");
}

raw_client provider_of(const std::string& socket, std::string_view service) {
    raw_client c(socket);
    c.register_service(service);
    return c;
}

std::uint32_t open_session(raw_client& client, std::uint32_t id, std::string_view line,
                           raw_client& provider, std::chrono::milliseconds timeout) {
    client.send(proto::packet_type::request, id, line);
    const packet req = provider.recv(timeout);
    REQUIRE(req.type() == static_cast<std::uint8_t>(proto::packet_type::request));
    CHECK(req.payload == line);
    return req.id();
}

}  // namespace junction::test
