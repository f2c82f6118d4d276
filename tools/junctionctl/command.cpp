// Shared by every subcommand: connecting, and turning an action's outcome
// into junctionctl's exit status (see command.hpp).
#include "command.hpp"

#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <CLI/CLI.hpp>

namespace junctionctl {

namespace {

// connect() failed: there is no junctiond to talk to at that path.
class cannot_connect : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

void report(const std::string& message) {
    std::fprintf(stderr, "junctionctl: %s\n", message.c_str());
}

// Runs `action`, reports what it throws, returns the exit status.
int run_action(const common_options& opts, const std::function<int()>& action) {
    int status = exit_ok;
    try {
        status = action();
    } catch (const cannot_connect& e) {
        report(e.what());
        return exit_unreachable;
    } catch (const CLI::Error&) {
        throw;  // a usage error found by the action: main.cpp prints it
    } catch (const std::system_error& e) {
        const std::error_code ec = e.code();
        if (ec == junction::errc::timeout) {
            report("no answer within " + std::to_string(opts.timeout.count()) +
                   " ms (see --timeout)");
            return exit_timeout;
        }
        if (ec == junction::errc::connection_lost || ec == junction::errc::protocol_error) {
            report(std::string(e.what()) + " (" + opts.socket + ")");
            return exit_unreachable;
        }
        if (ec == std::errc::invalid_argument || ec == std::errc::message_size) {
            report(e.what());
            return exit_usage;
        }
        report(e.what());
        // Socket errors (reset, broken pipe) mean the daemon went away.
        return ec.category() == std::system_category() || ec.category() == std::generic_category()
                   ? exit_unreachable
                   : exit_error;
    } catch (const std::exception& e) {
        report(e.what());
        return exit_error;
    }
    // Output that never arrived is a failure too (`junctionctl list > /dev/full`).
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        report("cannot write to standard output");
        return status == exit_ok ? exit_error : status;
    }
    return status;
}

}  // namespace

namespace {

// The usage line with "<fixed> [args...]" instead of one entry per word positional.
class words_formatter : public CLI::Formatter {
public:
    explicit words_formatter(std::string usage) : usage_(std::move(usage)) {}
    std::string make_usage(const CLI::App*, std::string name) const override {
        return get_label("Usage") + ": " + name + " [OPTIONS] " + usage_ + "\n";
    }

private:
    std::string usage_;
};

}  // namespace

word_positionals::word_positionals(CLI::App& sub, std::size_t count, const std::string& usage)
    : values_(count) {
    for (std::size_t i = 0; i < count; ++i) {
        // Hidden from the option list (group ""); the subcommand's footer documents them.
        auto* word = sub.add_option("arg" + std::to_string(i + 1), values_[i]);
        options_.push_back(word->allow_extra_args(false)->group(""));
    }
    sub.formatter(std::make_shared<words_formatter>(usage));
}

std::vector<std::string> word_positionals::given() const {
    std::vector<std::string> words;
    for (std::size_t i = 0; i < values_.size() && options_[i]->count() > 0; ++i)
        words.push_back(values_[i]);
    return words;
}

junction::sync_client connect(const common_options& opts) {
    try {
        return junction::sync_client(opts.socket, opts.timeout);
    } catch (const std::system_error& e) {
        throw cannot_connect("cannot connect to junctiond at " + opts.socket + ": " +
                             e.code().message() + " (is junctiond running? see --socket)");
    }
}

void set_action(CLI::App& sub, const common_options& opts, std::function<int()> action) {
    sub.callback([&opts, action = std::move(action)] {
        if (const int status = run_action(opts, action); status != exit_ok) {
            throw CLI::RuntimeError(status);
        }
    });
}

void write_stdout(std::string_view bytes) {
    if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), stdout);
}

}  // namespace junctionctl
