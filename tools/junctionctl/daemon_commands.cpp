// `junctionctl list` and `junctionctl status`: the daemon's built-in services
// list-services and daemon-info (docs/protocol.md §7), as a table / key: value
// lines, or the daemon's JSON unchanged with --json.
//
// Flow: sync_client::call(<built-in>) -> first RESPONSE (the library ends the
// session) -> a 4xx/5xx is reported (exit 1) -> the JSON content is parsed
// (so --json never passes on something that is not JSON) -> printed.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "command.hpp"

namespace junctionctl {

namespace {

// A built-in's answer: its JSON content, or a failure already reported on
// stderr (status is not exit_ok).
struct builtin_answer {
    int status = exit_ok;
    std::string text;  // the content as the daemon sent it
    boost::json::value json;
};

builtin_answer call_builtin(const common_options& opts, std::string_view name) {
    auto client = connect(opts);
    const junction::packet p = client.call(name);
    builtin_answer a;
    if (!p.is_ok()) {
        std::fprintf(stderr, "junctionctl: %s: %s\n", std::string(name).c_str(),
                     p.code_line().c_str());
        a.status = exit_error;
        return a;
    }
    boost::system::error_code ec;
    a.json = boost::json::parse(p.content, ec);
    if (ec || !a.json.is_object()) {
        std::fprintf(stderr, "junctionctl: %s: the answer is not a JSON object\n",
                     std::string(name).c_str());
        a.status = exit_error;
        return a;
    }
    a.text = p.content;
    return a;
}

void print_json_text(const std::string& text) {
    write_stdout(text);
    if (text.empty() || text.back() != '\n') write_stdout("\n");
}

// A JSON number or string as table text; anything else as JSON.
std::string cell(const boost::json::value* v) {
    if (v == nullptr) return "-";
    if (v->is_string()) return std::string(v->get_string());
    return boost::json::serialize(*v);
}

// --- list ------------------------------------------------------------------------

int list_services(const common_options& opts) {
    const auto answer = call_builtin(opts, "list-services");
    if (answer.status != exit_ok) return answer.status;
    if (opts.json) {
        print_json_text(answer.text);
        return exit_ok;
    }

    const std::vector<std::string> headers{"NAME", "PROVIDER PID", "UID", "GID", "SESSIONS"};
    std::vector<std::vector<std::string>> rows;
    const auto* services = answer.json.as_object().if_contains("services");
    if (services != nullptr && services->is_array()) {
        for (const auto& s : services->get_array()) {
            if (!s.is_object()) continue;
            const auto& svc = s.get_object();
            const auto* who = svc.if_contains("provider");
            const auto* provider =
                who != nullptr && who->is_object() ? &who->get_object() : nullptr;
            auto field = [&](const char* key) {
                return cell(provider != nullptr ? provider->if_contains(key) : nullptr);
            };
            rows.push_back({cell(svc.if_contains("name")), field("pid"), field("uid"), field("gid"),
                            cell(svc.if_contains("sessions"))});
        }
    }

    std::vector<std::size_t> width(headers.size());
    for (std::size_t c = 0; c < headers.size(); ++c) {
        width[c] = headers[c].size();
        for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
    }
    // Names left-aligned, numbers right-aligned, two spaces between columns.
    auto print_row = [&](const std::vector<std::string>& row) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            const std::string pad(width[c] - row[c].size(), ' ');
            if (c > 0) line += "  ";
            line += c == 0 ? row[c] + pad : pad + row[c];
        }
        write_stdout(line + "\n");
    };
    print_row(headers);
    for (const auto& row : rows) print_row(row);
    return exit_ok;
}

// --- status ----------------------------------------------------------------------

std::string human_duration(std::int64_t ms) {
    if (ms < 0) ms = 0;
    if (ms < 60'000) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(ms) / 1000.0);
        return buf;
    }
    std::int64_t s = ms / 1000;
    const std::int64_t days = s / 86400, hours = s / 3600 % 24, minutes = s / 60 % 60;
    s %= 60;
    std::string out;
    if (days > 0) out += std::to_string(days) + "d ";
    if (days > 0 || hours > 0) out += std::to_string(hours) + "h ";
    out += std::to_string(minutes) + "m " + std::to_string(s) + "s";
    return out;
}

std::string human_bytes(std::int64_t n) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = static_cast<double>(n);
    std::size_t u = 0;
    while (v >= 1024.0 && u + 1 < std::size(units)) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    if (u == 0) {
        std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(n));
    } else {
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    }
    return buf;
}

int daemon_status(const common_options& opts) {
    const auto answer = call_builtin(opts, "daemon-info");
    if (answer.status != exit_ok) return answer.status;
    if (opts.json) {
        print_json_text(answer.text);
        return exit_ok;
    }

    const auto& info = answer.json.get_object();
    std::string out = "socket: " + opts.socket + "\n";
    // The documented keys first, in the documented order; keys a newer daemon
    // adds follow as they came.
    static constexpr const char* known[] = {"version",  "uptime_ms",       "connections",
                                            "sessions", "services",        "sessions_opened",
                                            "packets_routed", "bytes_routed"};
    for (const char* key : known) {
        const auto* v = info.if_contains(key);
        if (v == nullptr) continue;
        const std::string_view k(key);
        if (k == "uptime_ms" && v->is_number()) {
            out += "uptime: " + human_duration(v->to_number<std::int64_t>()) + "\n";
        } else if (k == "bytes_routed" && v->is_number()) {
            const auto n = v->to_number<std::int64_t>();
            out += "bytes_routed: " + std::to_string(n);
            if (n >= 1024) out += " (" + human_bytes(n) + ")";
            out += "\n";
        } else {
            out += std::string(k) + ": " + cell(v) + "\n";
        }
    }
    for (const auto& [key, v] : info) {
        bool is_known = false;
        for (const char* k : known) is_known = is_known || key == k;
        if (!is_known) out += std::string(key) + ": " + cell(&v) + "\n";
    }
    write_stdout(out);
    return exit_ok;
}

}  // namespace

void add_list_command(CLI::App& app, const common_options& opts) {
    auto* sub = app.add_subcommand("list", "List the registered services and their providers");
    sub->footer(
        std::string("Prints NAME, PROVIDER PID, UID, GID and SESSIONS (open sessions) of each\n"
                    "service; with --json, junctiond's list-services JSON:\n"
                    "  {\"services\":[{\"name\":\"hello\",\"provider\":{\"pid\":3570,"
                    "\"uid\":1000,\"gid\":1000},\"sessions\":1}]}\n\n"
                    "Examples:\n"
                    "  junctionctl list\n"
                    "  junctionctl list --json\n\n") +
        std::string(global_options_help));
    set_action(*sub, opts, [&opts] { return list_services(opts); });
}

void add_status_command(CLI::App& app, const common_options& opts) {
    auto* sub = app.add_subcommand("status", "Show junctiond's version, uptime and counters");
    sub->footer(
        std::string("Prints the socket, then version, uptime, connections, sessions, services,\n"
                    "sessions_opened, packets_routed and bytes_routed as 'key: value' lines;\n"
                    "with --json, junctiond's daemon-info JSON.\n\n"
                    "Examples:\n"
                    "  junctionctl status\n"
                    "  junctionctl --socket /run/junction/junction.sock status --json\n\n") +
        std::string(global_options_help));
    set_action(*sub, opts, [&opts] { return daemon_status(opts); });
}

}  // namespace junctionctl
