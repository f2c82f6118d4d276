// The systems under test: see systems.hpp.
#include "systems.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "dbus.hpp"
#include "provider.hpp"
#include "wire.hpp"

namespace junction::bench {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

temp_dir::temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "junction-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw_errno("mkdtemp");
    path_ = tmpl;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::string system_context::file(const std::string& suffix) const {
    return tmp->file(name + "-" + std::to_string(round) + suffix);
}

std::string resolve_program(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const fs::path p = fs::path(dir.empty() ? "." : dir) / name;
        if (::access(p.c_str(), X_OK) == 0) return p.string();
    }
    return name;
}

std::string tail_of(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    if (s.size() > 2000) s = s.substr(s.size() - 2000);
    return s;
}

void wait_for_socket(const std::string& socket_path, child& watched, const std::string& what,
                     const std::string& log_path, milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    while (!socket_accepts(socket_path)) {
        if (!watched.running()) throw bench_error(what + " exited at start: " + tail_of(log_path));
        if (clock::now() >= deadline)
            throw bench_error(what + " did not listen within " + std::to_string(timeout.count()) +
                              " ms: " + tail_of(log_path));
        std::this_thread::sleep_for(milliseconds(2));
    }
}

namespace {

std::vector<std::string> split_words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    return words;
}

void start_direct(running_system& rs, const system_context& ctx) {
    rs.client = make_raw_client();
    const int listen_fd = listen_unix(rs.ep.socket_path);
    rs.provider = child::fork([listen_fd] { run_echo_provider(listen_fd, -1); },
                              ctx.plan->cpu_for(role::provider));
    ::close(listen_fd);
}

// The raw echo provider, registered on the hub before it is forked.
void start_raw_provider(running_system& rs, const system_context& ctx) {
    const int fd = register_echo_provider(rs.ep.socket_path, ctx.timeout);
    rs.provider = child::fork([fd] { run_echo_provider(-1, fd); }, ctx.plan->cpu_for(role::provider));
    ::close(fd);
}

void start_relay(running_system& rs, const system_context& ctx) {
    rs.client = make_raw_client();
    start_hub(rs, ctx, {self_exe(), "relay", "--socket", rs.ep.socket_path}, rs.ep.socket_path);
    start_raw_provider(rs, ctx);
}

std::string always_available() { return {}; }

}  // namespace

void start_junctiond(running_system& rs, const system_context& ctx, const std::vector<std::string>& extra) {
    std::vector<std::string> argv{ctx.junctiond, "--socket", rs.ep.socket_path, "--log-level", "warn"};
    argv.insert(argv.end(), ctx.hub_args.begin(), ctx.hub_args.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    start_hub(rs, ctx, std::move(argv), rs.ep.socket_path);
    rs.hub_exits_zero = true;
}

void start_junctiond_raw(running_system& rs, const system_context& ctx) {
    rs.client = make_raw_client();
    start_junctiond(rs, ctx);
    start_raw_provider(rs, ctx);
}

void start_hub(running_system& rs, const system_context& ctx, std::vector<std::string> argv,
               const std::string& socket_path) {
    std::vector<std::string> full = split_words(ctx.hub_prefix);
    full.insert(full.end(), argv.begin(), argv.end());
    full[0] = resolve_program(full[0]);
    rs.hub = child::exec(full, rs.log_path, ctx.plan->cpu_for(role::hub));
    rs.hub_pid = rs.hub.pid();
    wait_for_socket(socket_path, rs.hub, ctx.name, rs.log_path, ctx.timeout);
}

const std::vector<system_def>& system_defs() {
    static const std::vector<system_def> defs{
        {"direct", "client and echo provider on one socket, no hop (the floor)", all_workloads, false,
         always_available, start_direct},
        {"relay", "the minimal relay (relay.cpp): one epoll loop, rewrites the session id", all_workloads,
         false, always_available, start_relay},
        {"junctiond", "junctiond with raw-packet clients and provider (the broker's own cost)",
         all_workloads, true, always_available, start_junctiond_raw},
        {"lib", "junctiond with the library's client (junction::session) and provider",
         all_workloads, true, always_available, start_junctiond_lib},
        {"rpc", "junctiond, an rpc::service echo function called through rpc::client",
         {"seq64", "seq4k", "seq60k", "x1", "xk", "bandwidth"}, true, always_available,
         start_junctiond_rpc},
        {"searpc", "junctiond's searpc gateway (libsearpc named-pipe framing) to the same rpc::service",
         {"seq64", "seq4k", "seq60k", "x1", "xk", "bandwidth"}, true, always_available,
         start_junctiond_searpc},
        {"dbus-daemon", "dbus-daemon (the reference bus), private, allow-all; sd-bus echo provider and client",
         dbus_workloads, false, dbus_daemon_unavailable, start_dbus_daemon},
        {"dbus-broker", "dbus-broker via dbus-broker-launch (socket-activated, private mount namespace); sd-bus "
         "echo provider and client",
         dbus_workloads, false, dbus_broker_unavailable, start_dbus_broker},
    };
    return defs;
}

const system_def* find_system(const std::string& name) {
    for (const auto& d : system_defs())
        if (d.name == name) return &d;
    return nullptr;
}

std::vector<std::string> system_names() {
    std::vector<std::string> names;
    for (const auto& d : system_defs()) names.push_back(d.name);
    return names;
}

}  // namespace junction::bench
