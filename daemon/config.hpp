// The daemon's configuration: command line over config file over defaults.
// The file format is CLI11's INI form: `key = value` lines, `#` comments,
// keys named like the long options (docs/man/junctiond.conf.5.md).
// parse_config() is used at start and again on SIGHUP (reload).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "limits.hpp"
#include "policy.hpp"

namespace junction::daemon {

struct config {
    std::string socket_path;
    unsigned socket_mode = 0660;
    std::string socket_group;  // empty: the daemon's own group
    std::string log_level = "info";
    std::string config_file;
    limits lim;
    std::vector<std::string> policy_rules;
    policy access;  // built from policy_rules
    unsigned shutdown_timeout_ms = 2000;  // bound on flushing at SIGTERM
    std::string searpc_socket;            // libsearpc named-pipe gateway; empty: off
    std::uint64_t searpc_call_timeout_ms = 30000;
};

struct parse_outcome {
    std::optional<config> cfg;  // set when the daemon should run
    int exit_code = 0;          // otherwise: exit with this (0 for --help/--version)
    std::string message;        // what to print (help text or the error)
};

parse_outcome parse_config(const std::vector<std::string>& args);

}  // namespace junction::daemon
