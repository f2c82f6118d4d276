// junctiond: command line, config file, logging; then the server runs.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "junction/socket_path.hpp"
#include "server.hpp"

#ifndef JUNCTION_VERSION
#define JUNCTION_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
    using junction::daemon::config;
    config cfg;
    std::string mode = "0660";

    CLI::App app{"junctiond: the Junction service broker"};
    app.set_version_flag("--version", std::string("junctiond ") + JUNCTION_VERSION);
    app.set_config("--config", "", "Config file (INI: key = value; see junctiond.conf(5))");
    app.add_option("--socket", cfg.socket_path,
                   "Unix socket path (default: $JUNCTION_SOCKET, /run/junction/junction.sock "
                   "as root, else $XDG_RUNTIME_DIR/junction/junction.sock)");
    app.add_option("--socket-mode", mode, "Permission bits of the socket file (octal)")
        ->capture_default_str();
    app.add_option("--log-level", cfg.log_level, "trace, debug, info, warn, error, critical, off")
        ->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    auto& lim = cfg.lim;
    app.add_option("--max-payload", lim.max_payload, "Largest packet payload accepted (bytes)")
        ->capture_default_str()
        ->check(CLI::Range(64, 65535));
    app.add_option("--max-message", lim.max_message, "Largest chunked message (bytes)")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{65535}, std::size_t{1} << 31));
    app.add_option("--max-queued-bytes", lim.max_queued_bytes,
                   "Bytes queued for one connection before it is closed as a slow reader")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{65543 * 2}, std::size_t{1} << 31));
    app.add_option("--max-sessions-per-connection", lim.max_sessions_per_connection,
                   "Sessions one connection may have open as client")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 24));
    app.add_option("--max-services-per-connection", lim.max_services_per_connection,
                   "Services one connection may register")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 20));
    app.add_option("--max-connections", lim.max_connections, "Connections in total")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 20));
    app.add_option("--max-connections-per-uid", lim.max_connections_per_uid,
                   "Connections from one uid")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 20));
    app.add_option("--shutdown-timeout-ms", cfg.shutdown_timeout_ms,
                   "How long SIGTERM waits for queued bytes to be written")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        cfg.socket_mode = static_cast<unsigned>(std::stoul(mode, nullptr, 8)) & 07777;
    } catch (const std::exception&) {
        std::cerr << "junctiond: --socket-mode: not an octal mode: " << mode << "\n";
        return 2;
    }
    if (cfg.socket_path.empty()) cfg.socket_path = junction::default_socket_path();

    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    try {
        junction::daemon::server srv(cfg);
        return srv.run();
    } catch (const std::system_error& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
}
