// `junctionctl rpc <service> <function> [args...]`: one RPC call by the
// convention of docs/protocol.md §9, printed as JSON.
//
// Flow: each argument ─▶ JSON if it parses as JSON, else a JSON string ─▶
// rpc::sync_client(socket, service).call_result(function, args) ─▶ {"ret": ...}:
// print ret as compact JSON and a newline, exit 0; {"err_code": N, "err_msg": m}:
// "junctionctl: N: m" on stderr, exit 1. With --json the whole result object is
// printed instead of ret (for an error too, before the stderr line). A session
// that ends before the result (no provider: 501, provider gone: 515, ...) is
// reported the same way, as the searpc gateway does. Timeouts and lost
// connections are exit 4 and 3 (command.hpp).
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <junction/rpc_sync.hpp>

#include "command.hpp"

namespace junctionctl {

namespace {

// Most arguments one call can take on the command line.
constexpr std::size_t max_args = 32;

struct rpc_options {
    std::string service;
    std::string function;
    std::unique_ptr<word_positionals> args;  // the call's arguments (command.hpp)
};

// "42" → 42, "[1,2]" → [1,2], "\"x\"" → "x", hello → "hello".
boost::json::value argument(const std::string& text) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec);
    if (ec) return boost::json::string(text);
    return v;
}

int report_error(const common_options& opts, int code, const std::string& message) {
    if (opts.json) {
        const boost::json::object result{{"err_code", code}, {"err_msg", message}};
        write_stdout(boost::json::serialize(result) + "\n");
        std::fflush(stdout);  // before the stderr line, so a terminal shows them in order
    }
    std::fprintf(stderr, "junctionctl: %d: %s\n", code, message.c_str());
    return exit_error;
}

int call_function(const common_options& opts, const rpc_options& r) {
    boost::json::array args;
    for (const std::string& a : r.args->given()) args.push_back(argument(a));

    std::unique_ptr<junction::rpc::sync_client> client;
    try {
        client = std::make_unique<junction::rpc::sync_client>(
            opts.socket, r.service,
            junction::rpc::options{.timeout = opts.timeout, .max_sessions = 1});
    } catch (const std::system_error& e) {
        if (e.code() == std::errc::invalid_argument) throw;  // a bad service name: usage error
        std::fprintf(stderr,
                     "junctionctl: cannot connect to junctiond at %s: %s (is junctiond running? "
                     "see --socket)\n",
                     opts.socket.c_str(), e.code().message().c_str());
        return exit_unreachable;
    }

    boost::json::object result;
    try {
        result = client->call_result(r.function, std::move(args));
    } catch (const junction::rpc::error& e) {
        return report_error(opts, e.code(), e.what());  // the session ended before the result
    }
    if (opts.json) write_stdout(boost::json::serialize(result) + "\n");
    boost::json::value ret;
    try {
        ret = junction::rpc::result_value(std::move(result));
    } catch (const junction::rpc::error& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "junctionctl: %d: %s\n", e.code(), e.what());
        return exit_error;
    }
    if (!opts.json) write_stdout(boost::json::serialize(ret) + "\n");
    return exit_ok;
}

}  // namespace

void add_rpc_command(CLI::App& app, const common_options& opts) {
    auto r = std::make_shared<rpc_options>();
    auto* sub =
        app.add_subcommand("rpc", "Call a function of an RPC service and print its result as JSON");
    sub->add_option("service", r->service, "Service name")->required();
    sub->add_option("function", r->function, "Function name")->required();
    r->args = std::make_unique<word_positionals>(*sub, max_args, "service function [args...]");
    sub->footer(
        std::string(
            "Arguments (up to 32): each is taken as JSON if it parses as JSON (42, -1, true, "
            "null,\n"
            "'[1,2]', '{\"k\":1}', '\"quoted\"'), else as a string; put -- before arguments that\n"
            "start with '-' and are not numbers.\n\n"
            "Sends the call [\"<function>\", args...] on a session with <service> "
            "(docs/protocol.md\n"
            "\"RPC convention\"), prints the result's \"ret\" as compact JSON on one line. With\n"
            "--json, prints the whole result object ({\"ret\": ...} or {\"err_code\": N, "
            "\"err_msg\": ...}).\n\n"
            "Exit status: 0 a result; 1 an error result, or the session ended first (printed as\n"
            "'junctionctl: <err_code>: <err_msg>' on stderr; 500 no such function, 501 no such\n"
            "service, 511 bad arguments, 515 provider gone, 520 the function failed); 2 usage\n"
            "error; 3 cannot connect or connection lost; 4 no result within --timeout.\n\n"
            "Examples:\n"
            "  junctionctl rpc calc add 2 40\n"
            "  junctionctl rpc calc greet '\"007\"'      (a string that would parse as a number)\n"
            "  junctionctl --json rpc calc greet world\n\n") +
        std::string(global_options_help));
    set_action(*sub, opts, [&opts, r] { return call_function(opts, *r); });
}

}  // namespace junctionctl
