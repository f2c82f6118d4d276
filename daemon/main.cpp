// junctiond: parse the configuration, set up logging, run the server.
#include <iostream>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "server.hpp"
#include "systemd.hpp"

namespace {

// "%*" in a pattern: the line's syslog priority as journald reads it ("<6>" for info).
class journal_priority final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        static constexpr std::string_view prefix[] = {"<7>", "<7>", "<6>", "<4>",
                                                      "<3>", "<2>", "<6>"};
        const auto level = static_cast<std::size_t>(msg.level);
        const std::string_view p = level < std::size(prefix) ? prefix[level] : "<6>";
        dest.append(p.data(), p.data() + p.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<journal_priority>();
    }
};

// Under systemd with stderr connected to journald, lines go to stderr with a
// priority prefix and no timestamp (the journal stamps them). Otherwise the
// usual timestamped, coloured lines.
void set_up_logging(const std::string& level) {
    if (junction::daemon::systemd::stderr_is_journal()) {
        spdlog::set_default_logger(spdlog::stderr_logger_mt("junctiond"));
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<journal_priority>('*').set_pattern("%*%v");
        spdlog::set_formatter(std::move(formatter));
    } else {
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    }
    spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv, argv + argc);
    auto parsed = junction::daemon::parse_config(args);
    if (!parsed.cfg) {
        (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message;
        if (!parsed.message.empty() && parsed.message.back() != '\n') std::cerr << "\n";
        return parsed.exit_code;
    }
    junction::daemon::config& cfg = *parsed.cfg;

    set_up_logging(cfg.log_level);
    try {
        junction::daemon::server srv(cfg, args);
        return srv.run();
    } catch (const std::system_error& e) {
        spdlog::critical("{}", e.what());
        return 1;
    } catch (const std::exception& e) {
        spdlog::critical("internal error: {}", e.what());
        return 70;  // EX_SOFTWARE
    }
}
