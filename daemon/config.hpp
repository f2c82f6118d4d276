// The daemon's configuration: command line over config file over defaults.
// The file format is CLI11's INI form: `key = value` lines, `#` comments,
// keys named like the long options (see docs/junctiond.conf.5.md).
#pragma once

#include <string>

#include "limits.hpp"

namespace junction::daemon {

struct config {
    std::string socket_path;
    unsigned socket_mode = 0660;
    std::string log_level = "info";
    std::string config_file;
    limits lim;
    unsigned shutdown_timeout_ms = 2000;  // bound on flushing at SIGTERM
};

}  // namespace junction::daemon
