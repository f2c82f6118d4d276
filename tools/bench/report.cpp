// Figures, table and JSON: see report.hpp.
#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "scaling.hpp"

namespace junction::bench {

namespace json = boost::json;

std::vector<figure_def> figure_defs(std::size_t connections, std::size_t in_flight) {
    const std::string n = std::to_string(connections);
    const std::string k = std::to_string(in_flight);
    std::vector<figure_def> defs;
    for (const auto& [size, name] : {std::pair{64, "64 B"}, {4096, "4 KiB"}, {61440, "60 KiB"}}) {
        const std::string base = "seq_" + std::to_string(size);
        const std::string label = std::string("seq ") + name;
        const std::string workload = size == 64 ? "seq64" : size == 4096 ? "seq4k" : "seq60k";
        defs.push_back({base + "_p50_us", label + " p50", "µs", false, false, workload});
        defs.push_back({base + "_p99_us", label + " p99", "µs", false, false, workload});
        defs.push_back({base + "_p999_us", label + " p99.9", "µs", false, false, workload});
    }
    defs.push_back({"pipelined_x1_calls_per_s", n + "×1 64 B", "calls/s", true, false, "x1"});
    defs.push_back({"pipelined_xk_calls_per_s", n + "×" + k + " 64 B", "calls/s", true, false, "xk"});
    defs.push_back({"bandwidth_mb_per_s", n + "×1 60 KiB", "MB/s", true, false, "bandwidth"});
    defs.push_back({"fresh_session_p50_us", "fresh session p50", "µs", false, false, "fresh"});
    defs.push_back({"hub_cpu_us_per_call_x1", "hub CPU/call " + n + "×1", "µs", false, true, "x1"});
    defs.push_back({"hub_cpu_us_per_call_xk", "hub CPU/call " + n + "×" + k, "µs", false, true, "xk"});
    defs.push_back({"hub_rss_kib", "hub RSS", "KiB", false, true, ""});
    return defs;
}

namespace {

struct ratio_def {
    std::string system;
    std::string baseline;
    std::string name() const { return system + "/" + baseline; }
};

// The comparisons the targets are written in: the hop against no hop and
// against the cheapest hop; the library, RPC and gateway layers against the
// broker they sit on; the broker against the D-Bus brokers.
const std::vector<ratio_def> ratio_defs{
    {"relay", "direct"},      {"junctiond", "direct"},   {"junctiond", "relay"},
    {"lib", "junctiond"},     {"rpc", "junctiond"},      {"searpc", "rpc"},
    {"dbus-broker", "relay"}, {"dbus-daemon", "relay"},  {"junctiond", "dbus-broker"},
    {"junctiond", "dbus-daemon"}};

const system_result* find(const std::vector<system_result>& rs, const std::string& name) {
    for (const auto& r : rs)
        if (r.name == name) return &r;
    return nullptr;
}

std::optional<double> value(const std::vector<system_result>& rs, const std::string& system,
                            const std::string& key) {
    const system_result* r = find(rs, system);
    if (!r) return std::nullopt;
    const auto it = r->figures.find(key);
    if (it == r->figures.end() || !std::isfinite(it->second)) return std::nullopt;
    return it->second;
}

std::optional<double> ratio(const std::vector<system_result>& rs, const ratio_def& rd,
                            const std::string& key) {
    const auto a = value(rs, rd.system, key);
    const auto b = value(rs, rd.baseline, key);
    if (!a || !b || *b == 0) return std::nullopt;
    return *a / *b;
}

std::string format_ratio(std::optional<double> v) {
    if (!v) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", *v);
    return buf;
}

// Width in characters as a terminal shows them (µ and × are one column, two bytes).
std::size_t columns(const std::string& s) {
    std::size_t n = 0;
    for (const unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

std::string pad(const std::string& s, std::size_t width, bool right) {
    const std::size_t w = columns(s);
    const std::string fill(w < width ? width - w : 0, ' ');
    return right ? fill + s : s + fill;
}

}  // namespace

std::string format_value(std::optional<double> v) {
    if (!v) return "-";
    char buf[32];
    const double x = *v;
    if (std::fabs(x) >= 1000)
        std::snprintf(buf, sizeof buf, "%.0f", x);
    else if (std::fabs(x) >= 10)
        std::snprintf(buf, sizeof buf, "%.1f", x);
    else
        std::snprintf(buf, sizeof buf, "%.2f", x);
    return buf;
}

void print_grid(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, bool markdown) {
    std::vector<std::size_t> width(header.size());
    for (std::size_t c = 0; c < header.size(); ++c) {
        width[c] = columns(header[c]);
        for (const auto& row : rows) width[c] = std::max(width[c], columns(row[c]));
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string s = markdown ? "| " : "";
        for (std::size_t c = 0; c < cells.size(); ++c) {
            s += pad(cells[c], width[c], c >= 2);
            s += markdown ? " | " : "  ";
        }
        while (!s.empty() && s.back() == ' ') s.pop_back();
        out << s << "\n";
    };
    line(header);
    if (markdown) {
        std::string s = "|";
        for (std::size_t c = 0; c < header.size(); ++c)
            s += (c >= 2 ? std::string(width[c] + 1, '-') + ":|" : std::string(width[c] + 2, '-') + "|");
        out << s << "\n";
    }
    for (const auto& row : rows) line(row);
}

namespace {

bool ran(const std::vector<system_result>& rs, const std::string& name) {
    const system_result* r = find(rs, name);
    return r && r->skipped.empty();
}

}  // namespace

void print_table(std::ostream& out, const run_info& info, const std::vector<system_result>& results,
                 bool markdown) {
    const auto defs = figure_defs(info.connections, info.in_flight);
    out << "junction-bench " << info.version << ": pin " << info.pin_detail << "; " << info.cpus
        << " CPUs; " << info.duration_ms << " ms per throughput run; " << info.iterations
        << " latency samples; " << info.rounds << (info.rounds == 1 ? " round" : " rounds (medians)")
        << "; load average " << info.loadavg_start << " before, " << info.loadavg_end << " after\n\n";
    for (std::size_t i = 0; i < info.systems.size(); ++i)
        out << (markdown ? "- `" : "  ") << info.systems[i] << (markdown ? "`: " : ": ")
            << (i < info.descriptions.size() ? info.descriptions[i] : "") << "\n";
    out << "\n";

    std::vector<std::string> header{"figure", "unit"};
    std::vector<std::string> shown;
    for (const auto& s : info.systems)
        if (ran(results, s)) shown.push_back(s);
    header.insert(header.end(), shown.begin(), shown.end());
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : defs) {
        std::vector<std::string> row{d.label, d.unit};
        for (const auto& s : shown) row.push_back(format_value(value(results, s, d.key)));
        rows.push_back(std::move(row));
    }
    print_grid(out, header, rows, markdown);

    std::vector<ratio_def> ratios;
    for (const auto& rd : ratio_defs)
        if (ran(results, rd.system) && ran(results, rd.baseline)) ratios.push_back(rd);
    if (!ratios.empty()) {
        out << "\n";
        std::vector<std::string> rheader{"ratio", "unit"};
        for (const auto& rd : ratios) rheader.push_back(rd.name());
        std::vector<std::vector<std::string>> rrows;
        for (const auto& d : defs) {
            std::vector<std::string> row{d.label, d.unit};
            for (const auto& rd : ratios) row.push_back(format_ratio(ratio(results, rd, d.key)));
            rrows.push_back(std::move(row));
        }
        print_grid(out, rheader, rrows, markdown);
    }
    for (const auto& r : results) {
        if (!r.skipped.empty()) out << r.name << " skipped: " << r.skipped << "\n";
        if (!r.ok) out << r.name << " FAILED: " << r.error << "\n";
    }
}

void write_json(const std::string& path, const run_info& info,
                const std::vector<system_result>& results, const scaling_result* scaling) {
    const auto defs = figure_defs(info.connections, info.in_flight);
    json::object bench{
        {"version", info.version},
        {"pin", info.pin},
        {"pin_detail", info.pin_detail},
        {"cpus", info.cpus},
        {"duration_ms", info.duration_ms},
        {"iterations", info.iterations},
        {"connections", info.connections},
        {"in_flight", info.in_flight},
        {"rounds", info.rounds},
        {"loadavg_start", info.loadavg_start},
        {"loadavg_end", info.loadavg_end},
        {"junctiond", info.junctiond},
        {"scaling", info.scaling},
    };
    json::array systems, workloads;
    for (const auto& s : info.systems) systems.emplace_back(s);
    for (const auto& w : info.workloads) workloads.emplace_back(w);
    bench["systems"] = std::move(systems);
    bench["workloads"] = std::move(workloads);

    json::array figures;
    for (const auto& d : defs)
        figures.push_back(json::object{{"key", d.key},
                                       {"label", d.label},
                                       {"unit", d.unit},
                                       {"better", d.higher_is_better ? "higher" : "lower"},
                                       {"hub_only", d.hub_only},
                                       {"workload", d.workload}});

    json::object per_system;
    for (const auto& r : results) {
        json::object figs, details;
        for (const auto& d : defs) {
            const auto v = value(results, r.name, d.key);
            figs[d.key] = v ? json::value(*v) : json::value(nullptr);
        }
        for (const auto& [k, v] : r.details) details[k] = v;
        json::array ran, supported;
        for (const auto& w : r.workloads) ran.emplace_back(w);
        for (const auto& w : r.supported) supported.emplace_back(w);
        json::object sys{{"ok", r.ok},
                         {"error", r.ok ? json::value(nullptr) : json::value(r.error)},
                         {"skipped", r.skipped.empty() ? json::value(nullptr) : json::value(r.skipped)},
                         {"workloads", std::move(ran)},
                         {"supported", std::move(supported)},
                         {"figures", std::move(figs)},
                         {"details", std::move(details)}};
        if (!r.round_figures.empty()) {
            json::array rounds;
            for (const auto& rf : r.round_figures) {
                json::object o;
                for (const auto& [k, v] : rf) o[k] = v;
                rounds.push_back(std::move(o));
            }
            sys["rounds"] = std::move(rounds);
        }
        per_system[r.name] = std::move(sys);
    }

    json::object ratios;
    for (const auto& rd : ratio_defs) {
        if (!ran(results, rd.system) || !ran(results, rd.baseline)) continue;
        json::object rs;
        for (const auto& d : defs) {
            const auto v = ratio(results, rd, d.key);
            rs[d.key] = v ? json::value(*v) : json::value(nullptr);
        }
        ratios[rd.name()] = std::move(rs);
    }

    json::object root{{"bench", std::move(bench)},
                      {"figures", std::move(figures)},
                      {"systems", std::move(per_system)},
                      {"ratios", std::move(ratios)}};
    if (scaling) root["scaling"] = scaling_json(*scaling);
    std::ofstream f(path);
    f << json::serialize(root) << "\n";
    if (!f) throw std::runtime_error("cannot write " + path);
}

int check_json(const std::string& path, std::ostream& out, std::ostream& err) {
    std::ifstream in(path);
    if (!in) {
        err << "check-json: cannot read " << path << "\n";
        return 1;
    }
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    const json::value doc = json::parse(text.str(), ec);
    if (ec || !doc.is_object()) {
        err << "check-json: " << path << " is not a JSON object\n";
        return 1;
    }
    std::vector<std::string> problems;
    const json::object& root = doc.as_object();
    const json::value* sys_list = root.contains("bench") && root.at("bench").is_object()
                                      ? root.at("bench").as_object().if_contains("systems")
                                      : nullptr;
    const json::value* figs = root.if_contains("figures");
    const json::value* systems = root.if_contains("systems");
    // The run had scaling sweeps when bench.scaling says so: then they must be there.
    const json::value* scaling_mode = root.contains("bench") && root.at("bench").is_object()
                                          ? root.at("bench").as_object().if_contains("scaling")
                                          : nullptr;
    const bool had_scaling = scaling_mode && scaling_mode->is_string() && scaling_mode->as_string() != "none";
    if (!sys_list || !sys_list->is_array() || (sys_list->as_array().empty() && !had_scaling))
        problems.push_back("bench.systems missing or empty");
    if (!figs || !figs->is_array() || figs->as_array().empty()) problems.push_back("figures missing");
    if (!systems || !systems->is_object()) problems.push_back("systems missing");

    std::vector<std::string> names, skipped;
    std::size_t figures_checked = 0;
    if (problems.empty()) {
        for (const auto& s : sys_list->as_array()) {
            const std::string name(s.as_string());
            const json::value* sys = systems->as_object().if_contains(name);
            if (!sys || !sys->is_object()) {
                problems.push_back(name + ": no results");
                continue;
            }
            const json::object& so = sys->as_object();
            if (const json::value* why = so.if_contains("skipped"); why && why->is_string()) {
                skipped.push_back(name + " (" + std::string(why->as_string()) + ")");
                continue;
            }
            names.push_back(name);
            std::vector<std::string> ran;
            if (const json::value* w = so.if_contains("workloads"); w && w->is_array())
                for (const auto& x : w->as_array())
                    if (x.is_string()) ran.emplace_back(x.as_string());
            // Every workload asked for that this system can run must have run: a
            // system cannot pass by claiming it ran nothing.
            const json::value* asked = root.at("bench").as_object().if_contains("workloads");
            const json::value* can = so.if_contains("supported");
            if (asked && asked->is_array() && can && can->is_array())
                for (const auto& x : asked->as_array()) {
                    const auto& sup = can->as_array();
                    if (std::find(sup.begin(), sup.end(), x) != sup.end() &&
                        std::find(ran.begin(), ran.end(), std::string(x.as_string())) == ran.end())
                        problems.push_back(name + ": workload " + std::string(x.as_string()) + " did not run");
                }
            if (!so.contains("ok") || !so.at("ok").is_bool() || !so.at("ok").as_bool())
                problems.push_back(name + ": failed: " +
                                   (so.contains("error") ? json::serialize(so.at("error")) : "?"));
            const json::value* fv = so.if_contains("figures");
            if (!fv || !fv->is_object()) {
                problems.push_back(name + ": no figures");
                continue;
            }
            for (const auto& f : figs->as_array()) {
                const std::string key(f.at("key").as_string());
                const bool hub_only = f.at("hub_only").as_bool();
                const json::value* wl = f.as_object().if_contains("workload");
                const std::string workload(wl && wl->is_string() ? std::string(wl->as_string()) : "");
                const json::value* v = fv->as_object().if_contains(key);
                if (hub_only && name == "direct") continue;  // no hub, nothing to measure
                if (!workload.empty() && std::find(ran.begin(), ran.end(), workload) == ran.end())
                    continue;  // not run on this system
                // Zero is possible: CPU time comes in clock ticks, and a short window may see none.
                if (!v || !v->is_number() || !(v->to_number<double>() >= 0))
                    problems.push_back(name + ": " + key + " missing or not a number");
                else
                    ++figures_checked;
            }
        }
        const json::value* ratios = root.if_contains("ratios");
        for (const auto& rd : ratio_defs) {
            const bool both = std::find(names.begin(), names.end(), rd.system) != names.end() &&
                              std::find(names.begin(), names.end(), rd.baseline) != names.end();
            if (both && (!ratios || !ratios->is_object() || !ratios->as_object().contains(rd.name())))
                problems.push_back("ratio " + rd.name() + " missing");
        }
    }
    std::size_t scaling_checked = 0;
    if (had_scaling) {
        if (const json::value* sc = root.if_contains("scaling"))
            check_scaling_json(*sc, problems, scaling_checked);
        else
            problems.push_back("scaling missing (bench.scaling is " + json::serialize(*scaling_mode) + ")");
    }
    if (!problems.empty()) {
        for (const auto& p : problems) err << "check-json: " << p << "\n";
        return 1;
    }
    out << "checked: ";
    for (std::size_t i = 0; i < names.size(); ++i) out << (i ? ", " : "") << names[i];
    if (names.empty()) out << "no systems";
    out << " (" << figures_checked << " figures)";
    if (!skipped.empty()) {
        out << "; skipped: ";
        for (std::size_t i = 0; i < skipped.size(); ++i) out << (i ? ", " : "") << skipped[i];
    }
    if (had_scaling)
        out << "; scaling " << scaling_mode->as_string().c_str() << " (" << scaling_checked << " figures)";
    out << "\n";
    return 0;
}

}  // namespace junction::bench
