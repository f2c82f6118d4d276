// Does junctiond's cost grow with its state? Scaling sweeps, memory per idle
// connection / open session / registered service, and start-up time.
//
// Flow: run_scaling() raises RLIMIT_NOFILE (junctiond inherits it) ─▶ per
// sweep (sessions, connections, services): start two junctiond alike, limits
// raised, each with the raw echo provider (systems.cpp's start_junctiond_raw):
// `grown` and `base` ─▶ for each point, grow grown's idle state to that count
// (sessions held open to bench.echo, connections that made one call and went
// quiet, services registered by a helper connection) ─▶ measure both in turns
// (8×16 pipelined hub CPU per call, seq 64 B p50), so each ratio grown/base
// compares measurements taken at the same time on this noisy machine; grown's
// RSS gives memory per item ─▶ stop both.
// Then junctiond is started a few more times bare, timing exec → accepting.
// print_scaling() shows a second table; the JSON gets a "scaling" object.
//
// Everything is bounded: counts are fixed, every read has a timeout, and each
// phase has a deadline. Raw sockets only (wire.hpp), like raw_client.cpp.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "process.hpp"

namespace junction::bench {

class temp_dir;

// none: skip; quick: the first and last point of each sweep, one short
// measurement each (the smoke test); full: every point (1, 10, 100, ...), 21 turns each (the median of their ratios).
enum class scaling_mode { none, quick, full };
scaling_mode parse_scaling_mode(const std::string& s);  // "none", "quick", "full"
std::string to_string(scaling_mode m);

struct scaling_options {
    scaling_mode mode = scaling_mode::full;
    unsigned duration_ms = 1000;     // pipelined window per point (full: split over the repeats)
    std::size_t iterations = 10000;  // seq 64 B samples per point (full: split over the repeats)
    std::size_t connections = 8;     // the pipelined run: N×K, as in the systems' xk
    std::size_t in_flight = 16;
    unsigned reply_timeout_ms = 5000;
    std::string junctiond;
    std::string hub_prefix;
};

// One point of a sweep: `count` of the swept thing present while measuring.
struct scaling_point {
    std::size_t count = 0;
    std::string skipped;  // why this point was not measured ("" = measured)
    // seq_64_p50_us, hub_cpu_us_per_call, calls_per_s, hub_rss_kib: of the daemon holding
    // the state (values), and of the baseline daemon measured in turns with it.
    std::map<std::string, double> values, base_values;
    // seq_64_p50_us, hub_cpu_us_per_call: values ÷ base_values within each turn (the two
    // measured back to back), the median over the turns. What the table's ratios show.
    std::map<std::string, double> ratios;
};

struct scaling_sweep {
    std::string name;  // sessions, connections, services
    std::string noun;  // what `count` counts, for the table
    std::vector<scaling_point> points;
    std::string error;  // the sweep stopped here ("" = it ran to the end)
};

struct scaling_result {
    scaling_mode mode = scaling_mode::none;
    std::string pin_detail;
    std::string loadavg_start, loadavg_end;
    std::vector<scaling_sweep> sweeps;
    std::map<std::string, double> figures;       // see scaling_figure_defs()
    std::map<std::string, std::string> skipped;  // figure key -> why it has no value
    std::vector<double> startup_ms;              // each start, exec → socket accepts
    std::string error;                           // start-up timing failed
    std::string notes;                           // limits raised, and the like

    bool ok() const;
};

struct scaling_figure_def {
    std::string key;
    std::string label;
    std::string unit;
    double target = 0;  // at most this (0: no target)
};
const std::vector<scaling_figure_def>& scaling_figure_defs();

scaling_result run_scaling(const scaling_options& opt, const pin_plan& plan, const temp_dir& tmp);

void print_scaling(std::ostream& out, const scaling_result& r, bool markdown);
boost::json::value scaling_json(const scaling_result& r);
// What a "scaling" object written by scaling_json() lacks; `checked` counts the figures found.
void check_scaling_json(const boost::json::value& v, std::vector<std::string>& problems,
                        std::size_t& checked);

}  // namespace junction::bench
