// Command-line and config-file options of junctiond (one CLI11 app for both).
#include "config.hpp"

#include <sstream>

#include <CLI/CLI.hpp>

#include "junction/socket_path.hpp"

#ifndef JUNCTION_VERSION
#define JUNCTION_VERSION "0.0.0"
#endif

namespace junction::daemon {

parse_outcome parse_config(const std::vector<std::string>& args) {
    config cfg;
    std::string mode = "0660";
    auto& lim = cfg.lim;

    CLI::App app{"junctiond: the Junction service broker"};
    app.set_version_flag("--version", std::string("junctiond ") + JUNCTION_VERSION);
    app.set_config("--config", "", "Config file (INI: key = value; see junctiond.conf(5))");
    app.add_option("--socket", cfg.socket_path,
                   "Unix socket path (default: $JUNCTION_SOCKET, /run/junction/junction.sock "
                   "as root, else $XDG_RUNTIME_DIR/junction/junction.sock)");
    app.add_option("--socket-mode", mode, "Permission bits of the socket file (octal)")
        ->capture_default_str();
    app.add_option("--socket-group", cfg.socket_group,
                   "Group owning the socket file (default: the daemon's group)");
    app.add_option("--log-level", cfg.log_level, "trace, debug, info, warn, error, critical, off")
        ->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_option("--policy", cfg.policy_rules,
                   "Access rule '<allow|deny> <provide|call> <pattern> <subjects>' (repeatable; "
                   "first match wins; see docs/security.md)");
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
    app.add_option("--max-sessions-per-uid", lim.max_sessions_per_uid,
                   "Sessions all connections of one uid may have open as client")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 26));
    app.add_option("--max-services-per-connection", lim.max_services_per_connection,
                   "Services one connection may register")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 20));
    app.add_option("--max-services-per-uid", lim.max_services_per_uid,
                   "Services all connections of one uid may register")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 24));
    app.add_option("--max-connections", lim.max_connections, "Connections in total")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 20));
    app.add_option("--max-connections-per-uid", lim.max_connections_per_uid,
                   "Connections from one uid")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 20));
    app.add_option("--session-idle-timeout-ms", lim.session_idle_timeout_ms,
                   "Reap sessions without traffic for this long with 514 (0: never)")
        ->capture_default_str();
    app.add_option("--first-packet-timeout-ms", lim.first_packet_timeout_ms,
                   "Close connections that send no complete packet within this time")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{86400000}));
    app.add_option("--partial-packet-timeout-ms", lim.partial_packet_timeout_ms,
                   "Close connections that leave a packet incomplete for this long")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{86400000}));
    app.add_option("--searpc-socket", cfg.searpc_socket,
                   "Also listen here for libsearpc named-pipe clients (gateway; off if empty)");
    app.add_option("--searpc-call-timeout-ms", cfg.searpc_call_timeout_ms,
                   "A gateway call not answered within this time fails with err_code 514")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{86400000}));
    app.add_option("--shutdown-timeout-ms", cfg.shutdown_timeout_ms,
                   "How long SIGTERM waits for queued bytes to be written")
        ->capture_default_str();

    parse_outcome result;
    try {
        // CLI11 wants argv order reversed when given a vector.
        std::vector<std::string> rev(args.rbegin(), args.rend());
        if (!rev.empty()) rev.pop_back();  // program name
        app.parse(rev);
    } catch (const CLI::ParseError& e) {
        std::ostringstream out, err;
        result.exit_code = app.exit(e, out, err);
        result.message = out.str() + err.str();
        return result;
    }
    try {
        cfg.socket_mode = static_cast<unsigned>(std::stoul(mode, nullptr, 8)) & 07777;
    } catch (const std::exception&) {
        result.exit_code = 2;
        result.message = "--socket-mode: not an octal mode: " + mode;
        return result;
    }
    try {
        cfg.access = policy(cfg.policy_rules);
    } catch (const std::exception& e) {
        result.exit_code = 2;
        result.message = e.what();
        return result;
    }
    if (auto* opt = app.get_option("--config"); opt && opt->count() > 0)
        cfg.config_file = opt->as<std::string>();
    if (cfg.socket_path.empty()) cfg.socket_path = junction::default_socket_path();
    result.cfg = std::move(cfg);
    return result;
}

}  // namespace junction::daemon
