// junctiond: parse the configuration, set up logging, run the server.
#include <iostream>

#include <spdlog/spdlog.h>

#include "config.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv, argv + argc);
    auto parsed = junction::daemon::parse_config(args);
    if (!parsed.cfg) {
        (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message;
        if (!parsed.message.empty() && parsed.message.back() != '\n') std::cerr << "\n";
        return parsed.exit_code;
    }
    junction::daemon::config& cfg = *parsed.cfg;

    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    try {
        junction::daemon::server srv(cfg, args);
        return srv.run();
    } catch (const std::system_error& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
}
