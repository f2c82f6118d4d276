// Access policy: who may provide and who may call which service names. Pure logic.
//
// A policy is an ordered list of rules; the first rule whose action and name
// pattern match and whose subjects include the peer decides. Configured rules
// come first, then the defaults (docs/security.md):
//   allow provide *               uid=0      root provides anything
//   allow provide user.{uid}.*    *          everyone provides in their own namespace
//   deny  provide *               *
//   allow call    *               *
//
// Rule text (config key `policy`, repeatable):
//   <allow|deny> <provide|call> <pattern> <subject>[,<subject>...]
//   pattern: service-name glob, `*` and `?`; `{uid}` stands for the peer's uid
//   subject: `*`, uid=N, gid=N (primary or supplementary), user=NAME, group=NAME
//            (names are resolved when the config is loaded)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace junction::daemon {

struct peer_identity {
    std::uint32_t uid;
    std::uint32_t gid;
    const std::vector<std::uint32_t>* groups;  // supplementary groups, may be null
};

enum class policy_action { provide, call };

struct policy_rule {
    bool allow = true;
    policy_action action = policy_action::call;
    std::string pattern;
    bool any_subject = false;
    std::vector<std::uint32_t> uids;
    std::vector<std::uint32_t> gids;
    std::string text;  // as written, for messages and logs
};

struct policy_decision {
    bool allowed;
    const policy_rule* rule;  // the rule that decided
};

class policy {
public:
    // The default policy only.
    policy();
    // Parses rules (throws std::invalid_argument naming the bad rule); the
    // defaults are appended after them.
    explicit policy(const std::vector<std::string>& rules);

    policy_decision check(policy_action action, std::string_view name,
                          const peer_identity& who) const;
    const std::vector<policy_rule>& rules() const noexcept { return rules_; }

private:
    std::vector<policy_rule> rules_;
};

// Glob match with `*` and `?` (exposed for tests).
bool glob_match(std::string_view pattern, std::string_view name) noexcept;

}  // namespace junction::daemon
