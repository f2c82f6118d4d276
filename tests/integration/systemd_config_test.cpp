// The shipped configuration file (packaging/junctiond.conf) against the real
// junctiond: it names every option junctiond has, documents each in
// junctiond.conf(5), and is accepted with every key uncommented. This keeps the
// file and the man page in step when options are added.
#include <catch2/catch.hpp>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace junction::test;

namespace {

const std::string shipped = std::string(JUNCTION_SOURCE_DIR) + "/packaging/junctiond.conf";
const std::string man_page = std::string(JUNCTION_SOURCE_DIR) + "/docs/man/junctiond.conf.5.md";

bool key_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

// Long options from `junctiond --help`, without the dashes.
std::set<std::string> junctiond_options() {
    const run_result r = run_command({JUNCTIOND_PATH, "--help"});
    REQUIRE(r.status == 0);
    std::set<std::string> out;
    const std::string& h = r.out;
    for (auto at = h.find("--"); at != std::string::npos; at = h.find("--", at + 2)) {
        std::size_t end = at + 2;
        while (end < h.size() && key_char(h[end])) ++end;
        if (end > at + 2 && h[at + 2] >= 'a' && h[at + 2] <= 'z') out.insert(h.substr(at + 2, end - at - 2));
    }
    for (const char* not_a_key : {"help", "version", "config"}) out.erase(not_a_key);
    return out;
}

// "#key = value" -> {"key", " value"}; nullopt for other lines.
std::optional<std::pair<std::string, std::string>> commented_setting(const std::string& line) {
    if (line.size() < 2 || line[0] != '#' || line[1] < 'a' || line[1] > 'z') return std::nullopt;
    std::size_t end = 1;
    while (end < line.size() && key_char(line[end])) ++end;
    if (line.compare(end, 2, " =") != 0) return std::nullopt;
    return std::pair{line.substr(1, end - 1), line.substr(end + 2)};
}

}  // namespace

TEST_CASE("packaging/junctiond.conf and junctiond.conf(5) name every junctiond option",
          "[systemd][config]") {
    const auto options = junctiond_options();
    REQUIRE(options.size() > 5);
    const std::string conf = read_file(shipped);
    const std::string man = read_file(man_page);
    for (const auto& key : options) {
        INFO("option --" << key);
        CHECK(conf.find("\n#" + key + " =") != std::string::npos);
        CHECK(man.find(key) != std::string::npos);
    }
}

TEST_CASE("the shipped junctiond.conf is accepted with every key uncommented", "[systemd][config]") {
    temp_dir dir;
    // "#key = value" lines become "key = value"; the socket comes from the command line.
    std::istringstream in(read_file(shipped));
    std::ofstream out(dir.file("junctiond.conf"));
    int uncommented = 0;
    for (std::string line; std::getline(in, line);) {
        const auto setting = commented_setting(line);
        if (setting && setting->first != "socket") {
            out << setting->first << " =" << setting->second << "\n";
            ++uncommented;
        }
    }
    out.close();
    CHECK(uncommented >= 15);
    daemon_process d(dir, {"--config", dir.file("junctiond.conf")});
    raw_client c(d.socket());
    CHECK(c.request(1, "echo configured").code() == 200);
}
