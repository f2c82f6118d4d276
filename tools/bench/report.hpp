// The figures the bench reports, the comparison table, and the JSON file.
//
// Flow: main.cpp fills one system_result per system (figure key -> value,
// plus free-form details); print_table() shows every figure for every system
// with its ratio to the direct and relay baselines; write_json() writes the
// same, and check_json() proves a file has every figure of every system it
// names (the smoke test's behaviour check; no timing is asserted).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace junction::bench {

struct scaling_result;  // scaling.hpp

struct figure_def {
    std::string key;
    std::string label;
    std::string unit;
    bool higher_is_better = false;
    bool hub_only = false;  // meaningless without a hop (the direct baseline has none)
    std::string workload;   // the workload that measures it ("" = every run)
};

// The figures, labelled with the run's connection and in-flight counts.
std::vector<figure_def> figure_defs(std::size_t connections, std::size_t in_flight);

struct system_result {
    std::string name;
    bool ok = true;
    std::string error;
    std::string skipped;                    // why it could not run here ("" = it ran)
    std::vector<std::string> workloads;     // the workloads it ran: each must give its figures
    std::vector<std::string> supported;     // the workloads it can run (system_def::workloads)
    std::map<std::string, double> figures;  // key -> value; absent = not measured
    std::map<std::string, double> details;  // sample counts, window lengths, CPU of the peers...
    std::vector<std::map<std::string, double>> round_figures;  // with --rounds: each round's figures
};

struct run_info {
    std::string version;
    std::string pin;        // none, one, split
    std::string pin_detail; // which CPUs
    std::size_t cpus = 0;
    unsigned duration_ms = 0;
    std::size_t iterations = 0;
    std::size_t connections = 0;
    std::size_t in_flight = 0;
    unsigned rounds = 1;
    std::string junctiond;
    std::vector<std::string> systems;  // as asked with --only, in run order
    std::vector<std::string> descriptions;  // one line per system, same order
    std::vector<std::string> workloads;
    std::string loadavg_start, loadavg_end;  // /proc/loadavg: how busy the machine was around us
    std::string scaling = "none";            // the scaling mode run (scaling.hpp)
};

void print_table(std::ostream& out, const run_info& info, const std::vector<system_result>& results,
                 bool markdown);
// With `scaling`, the file gets its "scaling" object too.
void write_json(const std::string& path, const run_info& info,
                const std::vector<system_result>& results, const scaling_result* scaling = nullptr);
// 0 when `path` holds every figure of every system it lists (and of the scaling
// sweeps, when the run had them); otherwise prints why to `err`.
int check_json(const std::string& path, std::ostream& out, std::ostream& err);

// Table helpers, shared with the scaling table (scaling.cpp). Columns after the
// first two are right-aligned numbers.
void print_grid(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, bool markdown);
std::string format_value(std::optional<double> v);  // "-" when absent; 3 significant-ish digits

}  // namespace junction::bench
