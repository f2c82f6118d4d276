// The shipped configuration file (packaging/junctiond.conf) against the real
// junctiond: it names every option junctiond has, documents each in
// junctiond.conf(5), and is accepted with every key uncommented. This keeps the
// file and the man page in step when options are added.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace junction::test;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

const std::string shipped = std::string(JUNCTION_SOURCE_DIR) + "/packaging/junctiond.conf";
const std::string man_page = std::string(JUNCTION_SOURCE_DIR) + "/docs/man/junctiond.conf.5.md";

// Long options from `junctiond --help`, without the dashes.
std::set<std::string> junctiond_options() {
    const run_result r = run_command({JUNCTIOND_PATH, "--help"});
    REQUIRE(r.status == 0);
    std::set<std::string> out;
    const std::regex opt(R"(--([a-z][a-z0-9-]+))");
    for (std::sregex_iterator it(r.out.begin(), r.out.end(), opt), end; it != end; ++it)
        out.insert((*it)[1]);
    for (const char* not_a_key : {"help", "version", "config"}) out.erase(not_a_key);
    return out;
}

}  // namespace

TEST_CASE("packaging/junctiond.conf and junctiond.conf(5) name every junctiond option",
          "[systemd][config]") {
    const auto options = junctiond_options();
    REQUIRE(options.size() > 5);
    const std::string conf = slurp(shipped);
    const std::string man = slurp(man_page);
    for (const auto& key : options) {
        INFO("option --" << key);
        CHECK(std::regex_search(conf, std::regex("\n#" + key + " =")));
        CHECK(man.find(key) != std::string::npos);
    }
}

TEST_CASE("the shipped junctiond.conf is accepted with every key uncommented", "[systemd][config]") {
    temp_dir dir;
    // "#key = value" lines become "key = value"; the socket comes from the command line.
    std::istringstream in(slurp(shipped));
    std::ofstream out(dir.file("junctiond.conf"));
    const std::regex setting(R"(^#([a-z][a-z0-9-]*) =(.*)$)");
    int uncommented = 0;
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_match(line, m, setting) && m[1] != "socket") {
            out << m[1] << " =" << m[2] << "\n";
            ++uncommented;
        }
    }
    out.close();
    CHECK(uncommented >= 15);
    daemon_process d(dir, {"--config", dir.file("junctiond.conf")});
    raw_client c(d.socket());
    CHECK(c.request(1, "echo configured").code() == 200);
}
