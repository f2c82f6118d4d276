// Review reproducers for policy rule parsing (daemon/policy.cpp, docs/security.md).
//
// parse_config() (start and SIGHUP reload) catches std::invalid_argument only,
// so every bad rule must be reported as one; numbers must not wrap to other uids.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "policy.hpp"

using junction::daemon::peer_identity;
using junction::daemon::policy;
using junction::daemon::policy_action;

TEST_CASE("review: a policy uid too large for unsigned long is rejected as invalid_argument "
          "(not std::out_of_range, which parse_config does not catch)",
          "[review][policy]") {
    CHECK_THROWS_AS(policy(std::vector<std::string>{"allow call * uid=99999999999999999999"}),
                    std::invalid_argument);
    CHECK_THROWS_AS(policy(std::vector<std::string>{"allow call * gid=123456789012345678901234"}),
                    std::invalid_argument);
}

TEST_CASE("review: a policy uid over 2^32-1 is rejected, not truncated to another uid (here root)",
          "[review][policy]") {
    // 4294967296 = 2^32: static_cast<uint32_t> turns it into 0.
    bool threw = false;
    try {
        const policy p(std::vector<std::string>{"deny call secret.* uid=4294967296"});
        const peer_identity root{0, 0, nullptr};
        // If accepted, the rule must at least not be about uid 0.
        CHECK(p.check(policy_action::call, "secret.x", root).allowed);
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    CHECK(threw);
}
