// The D-Bus systems (see dbus.hpp): how each bus is started, the sd-bus echo
// provider, and the sd-bus client driver.
//
// dbus-daemon is exec'd as the hub: `--config-file` (the allow-all config
// below) `--address=unix:path=<temp>/…sock --nofork --print-address`.
//
// dbus-broker is started as a system bus manager would: dbus-broker-launch
// gets its listening socket by socket activation (fd 3, LISTEN_FDS=1,
// LISTEN_PID set in the child between fork and exec) and
// DBUS_SESSION_BUS_ADDRESS naming that socket (it connects to its own bus),
// and forks the `dbus-broker` process that routes the messages: that one is
// rs.hub_pid, so the hub's CPU and RSS are the broker's, not the launcher's.
// Both log to the journal and abort without /run/systemd/journal/socket, so
// the launcher runs in a private mount namespace where a stand-in directory
// from the temp dir covers /run/systemd; a datagram socket bound there is read
// by a small forked process that copies each MESSAGE= into the hub's log. The
// host's mounts are never touched (the namespace is made private first), but
// unshare(CLONE_NEWNS) needs root or CAP_SYS_ADMIN: without it the system is
// skipped and says so.
//
// The client speaks sd-bus only (no Asio): sd_bus_call for the sequential
// workloads; for the pipelined ones N buses, K sd_bus_call_async in flight on
// each, and one poll() loop over the buses' fds that drives sd_bus_process on
// those that are ready. Every call carries the reply timeout.
#include "dbus.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "wire.hpp"

namespace junction::bench {

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr const char* bench_bus_name = "org.junction.Bench";
constexpr const char* bench_object = "/org/junction/Bench";
constexpr const char* bench_interface = "org.junction.Bench";
constexpr const char* echo_method = "Echo";

// Like a session bus: anybody may own any name, call anybody and be called.
// No limits beyond the buses' defaults, no service directories (nothing is
// activated). dbus-broker-launch ignores <listen> (it is given its socket);
// dbus-daemon insists on one, even with --address.
std::string bus_config(const std::string& address) {
    return R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>)" +
           address + R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
)";
}

// --- sd-bus handles ------------------------------------------------------------------

struct bus_closer {
    void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
using bus_ptr = std::unique_ptr<sd_bus, bus_closer>;

struct message_unref {
    void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using message_ptr = std::unique_ptr<sd_bus_message, message_unref>;

struct bus_error {
    sd_bus_error e{};
    bus_error() = default;
    bus_error(const bus_error&) = delete;
    bus_error& operator=(const bus_error&) = delete;
    ~bus_error() { sd_bus_error_free(&e); }
};

void check(int r, const std::string& what) {
    if (r < 0) throw bench_error(what + ": " + std::strerror(-r));
}

std::uint64_t usec(milliseconds t) {
    return static_cast<std::uint64_t>(t.count()) * 1000;
}

// A D-Bus address for a socket path: bytes outside [-0-9A-Za-z_/.*] are %-escaped.
std::string bus_address(const std::string& socket_path) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "unix:path=";
    for (const char c : socket_path) {
        const auto b = static_cast<unsigned char>(c);
        if (std::isalnum(b) || (c != '\0' && std::strchr("-_/.*", c))) {
            out += c;
        } else {
            out += '%';
            out += hex[b >> 4];
            out += hex[b & 15];
        }
    }
    return out;
}

// Connected and saying Hello (answered before the first call goes out).
bus_ptr connect_bus(const std::string& address, milliseconds timeout) {
    sd_bus* raw = nullptr;
    check(sd_bus_new(&raw), "sd_bus_new");
    bus_ptr bus(raw);
    check(sd_bus_set_address(raw, address.c_str()), "sd_bus_set_address");
    check(sd_bus_set_bus_client(raw, 1), "sd_bus_set_bus_client");
    check(sd_bus_set_method_call_timeout(raw, usec(timeout)), "sd_bus_set_method_call_timeout");
    check(sd_bus_start(raw), "connect to " + address);
    return bus;
}

message_ptr echo_call(sd_bus* bus, const std::vector<std::uint8_t>& payload) {
    sd_bus_message* raw = nullptr;
    check(sd_bus_message_new_method_call(bus, &raw, bench_bus_name, bench_object, bench_interface,
                                         echo_method),
          "sd_bus_message_new_method_call");
    message_ptr m(raw);
    check(sd_bus_message_append_array(raw, 'y', payload.data(), payload.size()),
          "sd_bus_message_append_array");
    return m;
}

std::string describe(const sd_bus_error* e, int r) {
    if (e && e->name) return std::string(e->name) + ": " + (e->message ? e->message : "");
    return std::strerror(-r);
}

// Empty when `reply` is Echo's answer to `size` bytes, else what is wrong with it.
std::string reply_problem(sd_bus_message* reply, std::size_t size) {
    if (sd_bus_message_is_method_error(reply, nullptr))
        return "Echo failed: " + describe(sd_bus_message_get_error(reply), -EIO);
    const void* data = nullptr;
    std::size_t got = 0;
    if (const int r = sd_bus_message_read_array(reply, 'y', &data, &got); r < 0)
        return std::string("unreadable Echo reply: ") + std::strerror(-r);
    if (got != size)
        return "Echo returned " + std::to_string(got) + " bytes, sent " + std::to_string(size);
    return {};
}

// --- the echo provider (in a forked child) ---------------------------------------------

// Echo(ay) → ay: the same bytes back.
int on_echo(sd_bus_message* m, void*, sd_bus_error*) {
    if (!sd_bus_message_is_method_call(m, bench_interface, echo_method))
        return 0;  // not ours: sd-bus answers
    const void* data = nullptr;
    std::size_t size = 0;
    int r = sd_bus_message_read_array(m, 'y', &data, &size);
    if (r < 0) return r;  // sd-bus turns a negative errno into an error reply
    sd_bus_message* raw = nullptr;
    if ((r = sd_bus_message_new_method_return(m, &raw)) < 0) return r;
    message_ptr reply(raw);
    if ((r = sd_bus_message_append_array(raw, 'y', data, size)) < 0) return r;
    if ((r = sd_bus_send(nullptr, raw, nullptr)) < 0) return r;
    return 1;
}

// Connects, owns the bench's name, says so on `ready_fd`, and answers until the bus goes away.
[[noreturn]] void serve_echo(const std::string& address, milliseconds timeout, int ready_fd) {
    int status = 0;
    try {
        bus_ptr bus = connect_bus(address, timeout);
        check(sd_bus_add_object(bus.get(), nullptr, bench_object, on_echo, nullptr),
              "sd_bus_add_object");
        check(sd_bus_request_name(bus.get(), bench_bus_name, 0),
              std::string("RequestName ") + bench_bus_name);
        const char ready = 1;
        if (::write(ready_fd, &ready, 1) != 1)
            throw bench_error("cannot tell the bench: ready pipe");
        ::close(ready_fd);
        for (;;) {
            const int r = sd_bus_process(bus.get(), nullptr);
            if (r < 0) break;  // disconnected: the bus is gone
            if (r > 0) continue;
            if (sd_bus_wait(bus.get(), UINT64_MAX) < 0) break;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench sd-bus provider: %s\n", e.what());
        status = 1;
    }
    std::fflush(stderr);
    ::_exit(status);
}

// Forks the provider; returns once it owns the name (the bus is up then), or throws.
void start_echo_provider(running_system& rs, const system_context& ctx) {
    const std::string address = bus_address(rs.ep.socket_path);
    const milliseconds timeout = ctx.timeout;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    const int ready_fd = fds[1];
    rs.provider = child::fork(
        [=] {
            ::close(fds[0]);
            serve_echo(address, timeout, ready_fd);
        },
        ctx.plan->cpu_for(role::provider));
    ::close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    const milliseconds wait = timeout + milliseconds(1000);  // the bus itself may still be starting
    const int n = ::poll(&p, 1, static_cast<int>(wait.count()));
    char byte = 0;
    const bool ready = n == 1 && ::read(fds[0], &byte, 1) == 1;
    ::close(fds[0]);
    if (!ready)
        throw bench_error(ctx.name + ": the sd-bus provider did not own " + bench_bus_name +
                          " within " + std::to_string(wait.count()) + " ms (see its stderr)");
}

// --- the client --------------------------------------------------------------------------

struct pipelined_run;

// One bus of the pipelined run; the userdata of its calls' reply callbacks.
struct call_conn {
    bus_ptr bus;
    pipelined_run* run = nullptr;
    bool process_again = false;  // sd_bus_process stopped at its cap with work left
};

struct pipelined_run {
    std::vector<std::uint8_t> payload;
    std::uint64_t timeout_usec = 0;
    std::uint64_t completed = 0;
    std::size_t outstanding = 0;
    bool resend = true;   // false once the window has ended: drain
    std::string failure;  // the first problem a callback saw (they cannot throw through sd-bus)
    clock::time_point last_progress;
};

int on_reply(sd_bus_message* reply, void* userdata, sd_bus_error*);

// Sends one Echo on `c`; the answer comes to on_reply.
int send_async(call_conn& c) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(c.bus.get(), &raw, bench_bus_name, bench_object,
                                           bench_interface, echo_method);
    if (r < 0) return r;
    message_ptr m(raw);
    if ((r = sd_bus_message_append_array(raw, 'y', c.run->payload.data(), c.run->payload.size())) <
        0)
        return r;
    if ((r = sd_bus_call_async(c.bus.get(), nullptr, raw, on_reply, &c, c.run->timeout_usec)) < 0)
        return r;
    ++c.run->outstanding;
    return 0;
}

int on_reply(sd_bus_message* reply, void* userdata, sd_bus_error*) {
    auto& c = *static_cast<call_conn*>(userdata);
    pipelined_run& run = *c.run;
    --run.outstanding;
    try {
        if (std::string why = reply_problem(reply, run.payload.size()); !why.empty()) {
            if (run.failure.empty()) run.failure = std::move(why);
            return 0;
        }
        ++run.completed;
        run.last_progress = clock::now();
        if (run.resend)
            if (const int r = send_async(c); r < 0 && run.failure.empty())
                run.failure = std::string("sd_bus_call_async: ") + std::strerror(-r);
    } catch (const std::exception& e) {
        if (run.failure.empty()) run.failure = e.what();
    }
    return 0;
}

class sd_bus_client final : public client_driver {
  public:
    std::string_view name() const override { return "sd-bus"; }

    std::vector<double> sequential(const endpoint& ep, const sequential_spec& spec) override {
        bus_ptr bus = connect_bus(bus_address(ep.socket_path), spec.reply_timeout);
        const std::vector<std::uint8_t> payload(spec.payload_size, 'x');
        sample_loop loop(spec);
        while (loop.more()) {
            const auto t0 = clock::now();
            const message_ptr call = echo_call(bus.get(), payload);
            bus_error err;
            sd_bus_message* raw = nullptr;
            const int r =
                sd_bus_call(bus.get(), call.get(), usec(spec.reply_timeout), &err.e, &raw);
            const message_ptr reply(raw);
            if (r < 0) throw bench_error("Echo: " + describe(&err.e, r));
            if (std::string why = reply_problem(reply.get(), payload.size()); !why.empty())
                throw bench_error(why);
            loop.record(t0);
        }
        return std::move(loop.samples);
    }

    std::vector<double> fresh_sessions(const endpoint&, const sequential_spec&) override {
        throw bench_error("D-Bus: no fresh-session workload (there is no session to open)");
    }

    pipelined_result pipelined(const endpoint& ep, const pipelined_spec& spec,
                               const window_hooks& hooks) override;
};

// sd_bus_process on `c` until it has nothing left, at most `cap` times (then
// c.process_again says to come back without waiting for the fd).
void process_bus(call_conn& c, std::size_t cap) {
    c.process_again = true;
    for (std::size_t i = 0; i < cap; ++i) {
        const int r = sd_bus_process(c.bus.get(), nullptr);
        check(r, "sd_bus_process");
        if (r == 0) {
            c.process_again = false;
            return;
        }
    }
}

pipelined_result sd_bus_client::pipelined(const endpoint& ep, const pipelined_spec& spec,
                                          const window_hooks& hooks) {
    pipelined_run run;
    run.payload.assign(spec.payload_size, 'x');
    run.timeout_usec = usec(spec.reply_timeout);
    const std::string address = bus_address(ep.socket_path);
    std::vector<call_conn> conns(spec.connections);
    for (auto& c : conns) {
        c.bus = connect_bus(address, spec.reply_timeout);
        c.run = &run;
        // One blocking call first: Hello is answered and the echo checked before the window.
        const message_ptr call = echo_call(c.bus.get(), run.payload);
        bus_error err;
        sd_bus_message* raw = nullptr;
        const int r = sd_bus_call(c.bus.get(), call.get(), run.timeout_usec, &err.e, &raw);
        const message_ptr reply(raw);
        if (r < 0) throw bench_error("Echo: " + describe(&err.e, r));
        if (std::string why = reply_problem(reply.get(), run.payload.size()); !why.empty())
            throw bench_error(why);
    }
    for (auto& c : conns)
        for (std::size_t k = 0; k < spec.in_flight; ++k) check(send_async(c), "sd_bus_call_async");

    enum class phase { warmup, window, drain };
    phase ph = phase::warmup;
    std::uint64_t at_start = 0, at_end = 0;
    const auto window_start = clock::now() + spec.warmup;
    const auto window_end = window_start + spec.duration;
    clock::time_point started{}, ended{}, drain_deadline{};
    run.last_progress = clock::now();
    // Enough to take every answer a bus can have queued, and to write its calls.
    const std::size_t cap = 4 * spec.in_flight + 16;
    std::vector<pollfd> fds(conns.size());
    for (;;) {
        const auto now = clock::now();
        if (ph == phase::warmup && now >= window_start) {
            if (hooks.on_start) hooks.on_start();
            started = clock::now();
            at_start = run.completed;
            ph = phase::window;
        }
        if (ph == phase::window && now >= window_end) {
            if (hooks.on_end) hooks.on_end();
            ended = clock::now();
            at_end = run.completed;
            run.resend = false;
            ph = phase::drain;
            drain_deadline = ended + spec.reply_timeout;
        }
        if (!run.failure.empty()) throw bench_error(run.failure);
        if (ph == phase::drain && (run.outstanding == 0 || now >= drain_deadline)) break;
        if (now - run.last_progress > spec.reply_timeout)
            throw bench_error("no Echo answer for " + std::to_string(spec.reply_timeout.count()) +
                              " ms (" + std::to_string(run.outstanding) + " calls outstanding)");

        bool any_again = false;
        for (std::size_t i = 0; i < conns.size(); ++i) {
            const int events = sd_bus_get_events(conns[i].bus.get());
            check(events, "sd_bus_get_events");
            // No POLLIN asked for: sd-bus holds messages it has read but not dispatched.
            if (!(events & POLLIN)) conns[i].process_again = true;
            fds[i] = {sd_bus_get_fd(conns[i].bus.get()), static_cast<short>(events), 0};
            any_again = any_again || conns[i].process_again;
        }
        const auto edge = ph == phase::warmup   ? window_start
                          : ph == phase::window ? window_end
                                                : drain_deadline;
        const auto wait_ms =
            any_again
                ? 0L
                : std::clamp<long>(std::chrono::duration_cast<milliseconds>(edge - now).count() + 1,
                                   1, 100);
        const int got = ::poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
        if (got < 0 && errno != EINTR) throw_errno("poll");
        for (std::size_t i = 0; i < conns.size(); ++i)
            if (conns[i].process_again || (got > 0 && fds[i].revents != 0))
                process_bus(conns[i], cap);
    }
    if (run.outstanding != 0)
        throw bench_error(std::to_string(run.outstanding) +
                          " Echo calls never answered after the window");
    return {at_end - at_start, std::chrono::duration<double>(ended - started).count()};
}

// --- starting the buses -------------------------------------------------------------------

std::string write_bus_config(const system_context& ctx, const std::string& address) {
    const std::string path = ctx.file("-bus.conf");
    std::ofstream out(path);
    out << bus_config(address);
    if (!out.flush()) throw bench_error("cannot write " + path);
    return path;
}

// A datagram socket bound at `path`, close-on-exec.
int bind_datagram(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw bench_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_errno("socket");
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw_errno("bind " + path);
    }
    return fd;
}

// The journal stand-in (a forked child): each datagram's MESSAGE= line goes to `log_path`.
[[noreturn]] void copy_journal(int fd, const std::string& log_path) {
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    std::vector<char> buf(256 * 1024);
    for (;;) {
        const long n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            ::_exit(0);
        }
        const std::string_view d(buf.data(), static_cast<std::size_t>(n));
        for (std::size_t at = 0; at < d.size();) {
            const std::size_t eol = std::min(d.find('\n', at), d.size());
            const std::string_view line = d.substr(at, eol - at);
            if (line.starts_with("MESSAGE=") && log >= 0) {
                const std::string text = "journal: " + std::string(line.substr(8)) + "\n";
                if (::write(log, text.data(), text.size()) < 0) ::_exit(0);
            }
            at = eol + 1;
        }
    }
}

// In the forked launcher child: a private mount namespace in which the stand-in
// covers /run/systemd, the listening socket on fd 3, then exec.
[[noreturn]] void exec_launcher(const std::string& launcher, const std::string& config,
                                const std::string& address, const std::string& standin,
                                int listen_fd, const std::string& log_path) {
    auto fail = [](const char* what) {
        std::fprintf(stderr, "junction-bench: dbus-broker-launch: %s: %s\n", what,
                     std::strerror(errno));
        std::fflush(stderr);
        ::_exit(127);
    };
    // fd 3 first, so that the log and /dev/null cannot land there.
    if (listen_fd == 3 ? ::fcntl(3, F_SETFD, 0) != 0 : ::dup2(listen_fd, 3) != 3) ::_exit(126);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
    }
    if (null >= 0) ::dup2(null, 0);
    if (::unshare(CLONE_NEWNS) != 0) fail("unshare(CLONE_NEWNS)");
    // Nothing mounted here propagates back to the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("make / private");
    if (::access("/run/systemd", F_OK) != 0) {
        // No /run/systemd to cover: an empty tmpfs on /run (in this namespace only) gets one.
        if (::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
            fail("tmpfs on /run");
        if (::mkdir("/run/systemd", 0755) != 0) fail("mkdir /run/systemd");
    }
    if (::mount(standin.c_str(), "/run/systemd", nullptr, MS_BIND, nullptr) != 0)
        fail("bind the stand-in over /run/systemd");
    ::setenv("LISTEN_FDS", "1", 1);
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::unsetenv("LISTEN_FDNAMES");
    ::setenv("DBUS_SESSION_BUS_ADDRESS", address.c_str(), 1);
    const std::string config_arg = "--config-file=" + config;
    ::execl(launcher.c_str(), launcher.c_str(), "--scope=user", config_arg.c_str(),
            static_cast<char*>(nullptr));
    fail(("exec " + launcher).c_str());
    ::_exit(127);  // not reached: fail() exits
}

// The `dbus-broker` process that `launcher` forked (pid, parent and name from /proc).
pid_t find_broker(child& launcher, const std::string& log_path, milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator("/proc", ec)) {
            const std::string name = entry.path().filename().string();
            if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
            std::ifstream in(entry.path() / "stat");
            std::string line;
            if (!std::getline(in, line)) continue;
            const auto open = line.find('('), close = line.rfind(')');
            if (open == std::string::npos || close == std::string::npos || close + 4 >= line.size())
                continue;
            const std::string comm = line.substr(open + 1, close - open - 1);
            const long ppid = std::strtol(line.c_str() + close + 4, nullptr, 10);  // after ") S "
            if (comm == "dbus-broker" && ppid == launcher.pid())
                return static_cast<pid_t>(std::stol(name));
        }
        if (!launcher.running())
            throw bench_error("dbus-broker-launch exited at start: " + tail_of(log_path));
        if (clock::now() >= deadline)
            throw bench_error("dbus-broker-launch started no dbus-broker within " +
                              std::to_string(timeout.count()) + " ms: " + tail_of(log_path));
        std::this_thread::sleep_for(milliseconds(2));
    }
}

bool on_path(const std::string& program) {
    return resolve_program(program).find('/') != std::string::npos;
}

}  // namespace

std::string dbus_daemon_unavailable() {
    if (!on_path("dbus-daemon")) return "dbus-daemon is not on PATH (apt-get install dbus-daemon)";
    return {};
}

void start_dbus_daemon(running_system& rs, const system_context& ctx) {
    const std::string config = write_bus_config(ctx, bus_address(rs.ep.socket_path));
    start_hub(rs, ctx,
              {"dbus-daemon", "--config-file=" + config,
               "--address=" + bus_address(rs.ep.socket_path), "--nofork", "--print-address"},
              rs.ep.socket_path);
    start_echo_provider(rs, ctx);
    rs.client = std::make_unique<sd_bus_client>();
}

std::string dbus_broker_unavailable() {
    if (!on_path("dbus-broker-launch"))
        return "dbus-broker-launch is not on PATH (apt-get install dbus-broker)";
    // Try what the launcher's child will do, in a throw-away child.
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return std::string("fork: ") + std::strerror(errno);
    if (pid == 0) {
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            ::_exit(errno & 0xff);
        ::_exit(0);
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return {};
    const std::string why = WIFEXITED(st) ? std::strerror(WEXITSTATUS(st)) : "probe killed";
    return std::string("cannot make a private mount namespace for its journal stand-in (") + why +
           "; " + (::geteuid() == 0 ? "root, but no CAP_SYS_ADMIN here" : "not root") + ")";
}

void start_dbus_broker(running_system& rs, const system_context& ctx) {
    if (!ctx.hub_prefix.empty())
        throw bench_error(
            "--hub-prefix is not supported for dbus-broker (its launcher starts the broker)");
    const std::string config = write_bus_config(ctx, bus_address(rs.ep.socket_path));
    const std::string standin = ctx.file("-run-systemd");
    fs::create_directories(standin + "/journal");
    const int journal = bind_datagram(standin + "/journal/socket");
    rs.others.push_back(child::fork([journal, log = rs.log_path] { copy_journal(journal, log); },
                                    ctx.plan->cpu_for(role::hub)));
    const int listen_fd = listen_unix(rs.ep.socket_path);
    rs.hub = child::fork(
        [launcher = resolve_program("dbus-broker-launch"), config,
         address = bus_address(rs.ep.socket_path), standin, listen_fd,
         log = rs.log_path] { exec_launcher(launcher, config, address, standin, listen_fd, log); },
        ctx.plan->cpu_for(role::hub));
    ::close(listen_fd);
    ::close(journal);
    rs.hub_pid = find_broker(rs.hub, rs.log_path, ctx.timeout);
    start_echo_provider(rs, ctx);
    rs.client = std::make_unique<sd_bus_client>();
}

}  // namespace junction::bench
