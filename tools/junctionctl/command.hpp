// What every junctionctl subcommand shares: the global options, the exit
// statuses, how to connect, and how an action's outcome becomes an exit status.
//
// Flow: main.cpp parses the command line with CLI11. Each add_*_command()
// adds one subcommand (its own options live in a struct it allocates) and
// hands set_action() the function that does the work. CLI11 runs that action
// after the *whole* command line is parsed, so global options written after the
// subcommand (`junctionctl list --json`) are already in common_options. The
// action returns an exit status or throws; run_action() turns what it throws
// (junction::errc, socket errors, ...) into a message on stderr and a status.
//
// Adding a subcommand (e.g. `rpc`, RPC issue): a new file rpc_command.cpp with
//   void add_rpc_command(CLI::App& app, const common_options& opts);
// declared below, called from main.cpp, and listed in CMakeLists.txt.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <junction/sync_client.hpp>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace junctionctl {

// Global options: accepted before or after the subcommand.
struct common_options {
    std::string socket;                       // --socket (default: junction::default_socket_path())
    bool json = false;                        // --json: machine-readable output
    std::chrono::milliseconds timeout{5000};  // --timeout: bounds every wait for junctiond
};

// junctionctl's exit statuses (also in --help and README.md here).
enum exit_status : int {
    exit_ok = 0,           // every response was 1xx/2xx/3xx
    exit_error = 1,        // a 4xx/5xx response, or an answer junctionctl cannot use
    exit_usage = 2,        // bad command line (CLI11 errors, invalid request line)
    exit_unreachable = 3,  // cannot connect to junctiond, or the connection was lost
    exit_timeout = 4,      // no answer within --timeout
};

// Connects to opts.socket with opts.timeout per wait. Throws cannot_connect.
junction::sync_client connect(const common_options& opts);

// Makes `action` what subcommand `sub` does. It runs after the whole command
// line is parsed; its result, or what it throws, is junctionctl's exit status
// (main.cpp gets a non-zero status as CLI::RuntimeError).
void set_action(CLI::App& sub, const common_options& opts, std::function<int()> action);

// For the footer of each subcommand's --help (the global options are the parent's).
inline constexpr std::string_view global_options_help =
    "Global options, before or after the command:\n"
    "  --socket PATH   junctiond's socket (default: $JUNCTION_SOCKET, else per user or system)\n"
    "  --json          machine-readable output\n"
    "  --timeout MS    longest wait for each answer, in milliseconds (default 5000)\n";

// Writes bytes to stdout as they are (binary-safe).
void write_stdout(std::string_view bytes);

// "Any number of words" after a subcommand's fixed positionals, kept as typed.
// CLI11 2.1 splits a value like [a,b] given to a multi-value positional into
// "a" and "b" (Option::_add_result), which would break JSON arrays and
// bracketed words; so the words are `count` single-value positionals instead,
// hidden from the option list. The usage line reads
// "<command> [OPTIONS] <usage>" (e.g. "service [args...]").
class word_positionals {
public:
    word_positionals(CLI::App& sub, std::size_t count, const std::string& usage);
    word_positionals(const word_positionals&) = delete;
    word_positionals& operator=(const word_positionals&) = delete;

    std::size_t capacity() const noexcept { return values_.size(); }
    // The words given on the command line, in order.
    std::vector<std::string> given() const;

private:
    std::vector<std::string> values_;  // bound by CLI11: never resized after construction
    std::vector<const CLI::Option*> options_;
};

// Every subcommand group, one file each.
void add_list_command(CLI::App& app, const common_options& opts);    // daemon_commands.cpp
void add_status_command(CLI::App& app, const common_options& opts);  // daemon_commands.cpp
void add_call_command(CLI::App& app, const common_options& opts);    // call_command.cpp
void add_rpc_command(CLI::App& app, const common_options& opts);     // rpc_command.cpp

}  // namespace junctionctl
