#include "policy.hpp"

#include <algorithm>
#include <charconv>
#include <grp.h>
#include <pwd.h>
#include <stdexcept>

#include "junction/proto/text.hpp"

namespace junction::daemon {

bool glob_match(std::string_view p, std::string_view s) noexcept {
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    std::size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
    while (si < s.size()) {
        if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
            ++pi;
            ++si;
        } else if (pi < p.size() && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != std::string_view::npos) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

namespace {

// A uid or gid: decimal, 0 .. 2^32-2 (2^32-1 is "no id" to the kernel).
std::uint32_t parse_id(std::string_view v, const std::string& rule) {
    std::uint32_t id = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), id);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || id == 0xFFFFFFFFu)
        throw std::invalid_argument("policy rule \"" + rule + "\": not a uid/gid: " + std::string(v));
    return id;
}

policy_rule parse_rule(const std::string& text) {
    const auto words = proto::split_args(text);
    if (words.size() != 4)
        throw std::invalid_argument("policy rule \"" + text +
                                    "\": expected <allow|deny> <provide|call> <pattern> <subjects>");
    policy_rule r;
    r.text = text;
    if (words[0] == "allow") r.allow = true;
    else if (words[0] == "deny") r.allow = false;
    else throw std::invalid_argument("policy rule \"" + text + "\": first word must be allow or deny");
    if (words[1] == "provide") r.action = policy_action::provide;
    else if (words[1] == "call") r.action = policy_action::call;
    else throw std::invalid_argument("policy rule \"" + text + "\": second word must be provide or call");
    r.pattern = std::string(words[2]);
    std::string_view subjects = words[3];
    while (!subjects.empty()) {
        const auto comma = subjects.find(',');
        const std::string_view sub = subjects.substr(0, comma);
        subjects = comma == std::string_view::npos ? std::string_view{} : subjects.substr(comma + 1);
        if (sub == "*") {
            r.any_subject = true;
        } else if (sub.starts_with("uid=")) {
            r.uids.push_back(parse_id(sub.substr(4), text));
        } else if (sub.starts_with("gid=")) {
            r.gids.push_back(parse_id(sub.substr(4), text));
        } else if (sub.starts_with("user=")) {
            const std::string name(sub.substr(5));
            const passwd* pw = ::getpwnam(name.c_str());
            if (!pw) throw std::invalid_argument("policy rule \"" + text + "\": no user " + name);
            r.uids.push_back(pw->pw_uid);
        } else if (sub.starts_with("group=")) {
            const std::string name(sub.substr(6));
            const group* gr = ::getgrnam(name.c_str());
            if (!gr) throw std::invalid_argument("policy rule \"" + text + "\": no group " + name);
            r.gids.push_back(gr->gr_gid);
        } else {
            throw std::invalid_argument("policy rule \"" + text + "\": unknown subject " +
                                        std::string(sub));
        }
    }
    return r;
}

bool subject_matches(const policy_rule& r, const peer_identity& who) {
    if (r.any_subject) return true;
    if (std::find(r.uids.begin(), r.uids.end(), who.uid) != r.uids.end()) return true;
    for (const std::uint32_t g : r.gids) {
        if (g == who.gid) return true;
        if (who.groups && std::find(who.groups->begin(), who.groups->end(), g) != who.groups->end())
            return true;
    }
    return false;
}

}  // namespace

policy::policy() : policy(std::vector<std::string>{}) {}

policy::policy(const std::vector<std::string>& rules) {
    for (const auto& text : rules) rules_.push_back(parse_rule(text));
    for (const char* text : {"allow provide * uid=0", "allow provide user.{uid}.* *",
                             "deny provide * *", "allow call * *"})
        rules_.push_back(parse_rule(text));
}

policy_decision policy::check(policy_action action, std::string_view name,
                              const peer_identity& who) const {
    for (const auto& r : rules_) {
        if (r.action != action || !subject_matches(r, who)) continue;
        bool hit;
        if (const auto at = r.pattern.find("{uid}"); at != std::string::npos) {
            std::string p = r.pattern;
            p.replace(at, 5, std::to_string(who.uid));
            hit = glob_match(p, name);
        } else {
            hit = glob_match(r.pattern, name);
        }
        if (hit) return {r.allow, &r};
    }
    return {false, nullptr};  // unreachable: the defaults end with catch-alls
}

}  // namespace junction::daemon
