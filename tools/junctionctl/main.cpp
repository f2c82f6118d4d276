// junctionctl: the command-line client of junctiond, built on the client
// library's sync_client (no Asio here).
//
// Flow: global options and one subcommand per add_*_command() are declared on
// a CLI11 app; parse() fills common_options, then runs the chosen subcommand's
// action (command.hpp), which connects, talks to junctiond and prints. A
// non-zero status comes back as CLI::RuntimeError; CLI11's own errors are
// usage errors (exit 2).
#include <string>

#include <CLI/CLI.hpp>

#include "command.hpp"

#ifndef JUNCTION_VERSION
#define JUNCTION_VERSION "unknown"
#endif

namespace {

constexpr const char* exit_status_text =
    "Exit status:\n"
    "  0  success: every response was 1xx, 2xx or 3xx\n"
    "  1  an error response (4xx/5xx) from the service or junctiond\n"
    "  2  usage error\n"
    "  3  cannot connect to junctiond, or the connection was lost\n"
    "  4  no answer within --timeout\n";

}  // namespace

int main(int argc, char** argv) {
    using namespace junctionctl;

    common_options opts;
    opts.socket = junction::default_socket_path();

    CLI::App app{"Talk to junctiond, the Junction service broker."};
    app.name("junctionctl");
    app.set_version_flag("--version", "junctionctl " JUNCTION_VERSION);
    app.require_subcommand(1);
    // Subcommands created from here on let unknown options fall through to the
    // global ones, so `junctionctl list --json` works like `junctionctl --json list`.
    app.fallthrough();
    app.failure_message([](const CLI::App* a, const CLI::Error& e) {
        std::string command = a->get_name();
        for (const CLI::App* sub : a->get_subcommands()) command += " " + sub->get_name();
        return "junctionctl: " + std::string(e.what()) + "\nRun '" + command +
               " --help' for more information.\n";
    });
    app.footer(std::string("Examples:\n"
                           "  junctionctl list\n"
                           "  junctionctl status --json\n"
                           "  junctionctl call echo hello\n"
                           "  junctionctl --socket /run/junction/junction.sock call calc "
                           "--update '301:[\"add\",2,40]'\n\n") +
               exit_status_text +
               "\nRun 'junctionctl <command> --help' for a command's options.");

    app.add_option("--socket", opts.socket,
                   "junctiond's Unix socket ($JUNCTION_SOCKET overrides the default)")
        ->capture_default_str()
        ->type_name("PATH");
    app.add_flag("--json", opts.json, "Machine-readable JSON output");
    app.add_option_function<long>(
           "--timeout", [&opts](long ms) { opts.timeout = std::chrono::milliseconds(ms); },
           "Longest wait for each answer, in milliseconds (default 5000)")
        ->check(CLI::Range(1L, 24L * 3600 * 1000))
        ->type_name("MS");

    add_list_command(app, opts);
    add_status_command(app, opts);
    add_call_command(app, opts);
    add_rpc_command(app, opts);

    try {
        app.parse(argc, argv);
    } catch (const CLI::RuntimeError& e) {
        return e.get_exit_code();  // an action's status; it has reported already
    } catch (const CLI::ParseError& e) {
        // --help and --version "fail" with status 0; everything else is a usage error.
        return app.exit(e) == 0 ? exit_ok : exit_usage;
    }
    return exit_ok;
}
