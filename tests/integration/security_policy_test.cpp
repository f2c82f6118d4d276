// Access policy and peer credentials, end to end (docs/security.md).
//
// Flow of a test: start junctiond with its socket open to every local user
// (--socket-mode 0666, in a 0755 temp dir), connect as root (the test process)
// and as uid 65534 ("nobody", through security_identity.hpp), and check what
// the daemon allows, refuses (504 naming the rule), reports (session-info,
// list-services) and logs. Skipped with a warning unless run as root.
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/json/serialize.hpp>
#include <csignal>
#include <cstring>
#include <fstream>
#include <map>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "harness.hpp"
#include "security_identity.hpp"
#include "security_support.hpp"

using namespace junction::test;
using namespace junction::test::security;
using junction::proto::packet_type;

namespace {

// The answer to `register-service <name>` on a fresh command session.
packet register_as(raw_client& c, std::uint32_t id, const std::string& name) {
    return c.request(id, "register-service " + name, due);
}

boost::json::value json_of(const packet& p) { return boost::json::parse(p.content()); }

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// One libsearpc named-pipe call on a connected gateway socket (docs/protocol.md
// §10): native 32-bit length + {"service", "request"}; the reply is the same framing.
std::string searpc_call(int fd, const std::string& service, const std::string& call) {
    const std::string body =
        boost::json::serialize(boost::json::object{{"service", service}, {"request", call}});
    const auto len = static_cast<std::uint32_t>(body.size());
    std::string out(4, '\0');
    std::memcpy(out.data(), &len, 4);
    out += body;
    if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()))
        throw std::runtime_error("searpc send failed");
    std::string in;
    const auto deadline = clock::now() + due;
    for (;;) {
        if (in.size() >= 4) {
            std::uint32_t n;
            std::memcpy(&n, in.data(), 4);
            if (in.size() >= 4 + n) return in.substr(4, n);
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1)
            throw std::runtime_error("no searpc reply");
        char buf[4096];
        const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
        if (got <= 0) throw std::runtime_error("searpc connection closed");
        in.append(buf, static_cast<std::size_t>(got));
    }
}

}  // namespace

// --- The default policy --------------------------------------------------------------------

TEST_CASE("default policy: uid 65534 cannot provide foo and gets 504 naming the rule", "[security][policy]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket());
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());

    const packet refused = register_as(n, 1, "foo");
    CHECK(refused.code() == 504);
    CHECK(refused.message() == "policy: deny provide * *");
}

TEST_CASE("default policy: root provides any name", "[security][policy]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket());
    raw_client root(d.socket());
    CHECK(register_as(root, 1, "foo").code() == 200);
    CHECK(register_as(root, 2, "user.65534.taken-by-root").code() == 200);
    CHECK(register_as(root, 3, "org.example.Service").code() == 200);
}

TEST_CASE("default policy: uid 65534 provides user.65534.x but not user.0.x", "[security][policy]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket());
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());

    CHECK(register_as(n, 1, "user.65534.x").code() == 200);
    const packet other = register_as(n, 2, "user.0.x");
    CHECK(other.code() == 504);
    CHECK(other.message() == "policy: deny provide * *");
    // The namespace is the uid's own, not a prefix match on digits.
    CHECK(register_as(n, 3, "user.655340.x").code() == 504);
}

TEST_CASE("default policy: anyone may call, root calls uid 65534 and uid 65534 calls root", "[security][policy]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket());
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());
    raw_client root(d.socket());

    REQUIRE(register_as(root, 1, "rootsvc").code() == 200);
    REQUIRE(register_as(n, 1, "user.65534.x").code() == 200);

    // uid 65534 calls root's service.
    n.send(packet_type::request, 10, "rootsvc hello");
    const packet at_root = next_request(root);
    CHECK(at_root.payload == "rootsvc hello");
    root.send(packet_type::response, at_root.id(), "200 OK\n");
    CHECK(n.recv(due).code() == 200);

    // root calls uid 65534's service.
    root.send(packet_type::request, 20, "user.65534.x hi");
    const packet at_nobody = next_request(n);
    CHECK(at_nobody.payload == "user.65534.x hi");
    n.send(packet_type::response, at_nobody.id(), "200 OK\n");
    CHECK(root.recv(due).code() == 200);
}

// --- Configured rules (--policy) --------------------------------------------------------------

TEST_CASE("a configured deny call rule refuses that uid with 504 and the rule text, others still call", "[security][policy]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket({"--policy", "deny call secret uid=65534"}));
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());
    raw_client provider(d.socket());
    raw_client root(d.socket());
    REQUIRE(register_as(provider, 1, "secret").code() == 200);

    const packet refused = n.request(5, "secret", due);
    CHECK(refused.code() == 504);
    CHECK(refused.message() == "policy: deny call secret uid=65534");

    root.send(packet_type::request, 5, "secret");
    CHECK(next_request(provider).payload == "secret");
}

TEST_CASE("configured allow provide rules for group=NAME and user=NAME admit exactly those peers", "[security][policy]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket({"--policy", "allow provide shared.* group=users", "--policy",
                                       "allow provide team.* user=nobody"}));
    other_user in_users(nobody_in_users);
    other_user plain(nobody);
    raw_client member = in_users.client(d.socket());
    raw_client outsider = plain.client(d.socket());

    // The group counts as a supplementary group (SO_PEERGROUPS).
    CHECK(register_as(member, 1, "shared.a").code() == 200);
    const packet refused = register_as(outsider, 1, "shared.b");
    CHECK(refused.code() == 504);
    CHECK(refused.message() == "policy: deny provide * *");
    CHECK(register_as(outsider, 2, "team.b").code() == 200);
}

TEST_CASE("a configured rule with {uid} gives each uid its own namespace", "[security][policy]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket({"--policy", "allow provide svc.{uid}.* *"}));
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());

    CHECK(register_as(n, 1, "svc.65534.mine").code() == 200);
    const packet other = register_as(n, 2, "svc.0.yours");
    CHECK(other.code() == 504);
    CHECK(other.message() == "policy: deny provide * *");
}

TEST_CASE("uid 65534 cannot unregister a service root provides", "[security][policy]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket());
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());
    raw_client root(d.socket());
    REQUIRE(register_as(root, 1, "rootsvc").code() == 200);

    CHECK(n.request(1, "unregister-service rootsvc", due).code() == 511);
    n.send(packet_type::request, 2, "rootsvc");
    CHECK(next_request(root).payload == "rootsvc");
}

TEST_CASE("the searpc gateway applies the policy with the gateway client's own uid", "[security][policy][searpc]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    const std::string gateway = dir.file("searpc.sock");
    daemon_process d(dir, open_socket({"--searpc-socket", gateway, "--policy", "deny call secret uid=65534"}));
    raw_client provider(d.socket());
    REQUIRE(register_as(provider, 1, "secret").code() == 200);

    // uid 65534 through the gateway: refused, as on the main socket.
    other_user nobody_user(nobody);
    const int nfd = nobody_user.connect_fd(gateway);
    REQUIRE(nfd >= 0);
    const auto refused = boost::json::parse(searpc_call(nfd, "secret", R"(["get"])"));
    ::close(nfd);
    CHECK(refused.at("err_code").as_int64() == 504);
    CHECK(std::string(refused.at("err_msg").as_string()).find("deny call secret uid=65534") != std::string::npos);

    // root through the gateway: the call reaches the provider and the result comes back.
    raw_client root_gateway(gateway);
    std::string reply;
    bool answered = false;
    const int rfd = root_gateway.fd();
    std::thread caller([&] {
        try {
            reply = searpc_call(rfd, "secret", R"(["get"])");
            answered = true;
        } catch (const std::exception&) {
        }
    });
    const packet req = next_request(provider);
    CHECK(req.payload == "secret");
    provider.send(packet_type::response, req.id(), "200 OK\n");
    const packet call = provider.recv(due);
    CHECK(call.payload == "301 CLIENT CALL\n[\"get\"]");
    provider.send(packet_type::response, req.id(), "311 SERVER RET\n{\"ret\":7}");
    caller.join();
    CHECK(answered);
    CHECK(reply == "{\"ret\":7}");
}

// --- Credentials ---------------------------------------------------------------------------

TEST_CASE("session-info gives the provider the caller's pid, uid, gid and groups", "[security][credentials]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket());
    other_user caller_user(nobody_in_users);
    raw_client caller = caller_user.client(d.socket());
    raw_client provider(d.socket());
    REQUIRE(register_as(provider, 1, "who").code() == 200);

    caller.send(packet_type::request, 9, "who");
    const packet req = next_request(provider);
    const packet info = provider.request(50, "session-info " + std::to_string(req.id()), due);
    REQUIRE(info.code() == 200);
    const auto v = json_of(info);
    CHECK(v.at("id").as_int64() == req.id());
    CHECK(v.at("service").as_string() == "who");
    CHECK(v.at("pid").as_int64() == caller_user.pid());
    CHECK(v.at("uid").as_int64() == 65534);
    CHECK(v.at("gid").as_int64() == 65534);
    const auto& groups = v.at("groups").as_array();
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].as_int64() == 100);

    // Only sessions this connection serves: the caller cannot ask about itself.
    CHECK(caller.request(51, "session-info 9", due).code() == 503);
    CHECK(provider.request(52, "session-info 4000000", due).code() == 503);
}

TEST_CASE("list-services shows each provider's pid, uid and gid", "[security][credentials]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket());
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());
    raw_client root(d.socket());
    REQUIRE(register_as(n, 1, "user.65534.listed").code() == 200);
    REQUIRE(register_as(root, 1, "rootlisted").code() == 200);

    const packet list = n.request(2, "list-services", due);
    REQUIRE(list.code() == 200);
    int seen = 0;
    const boost::json::value services = json_of(list);
    for (const auto& s : services.at("services").as_array()) {
        const auto& provider = s.at("provider");
        if (s.at("name").as_string() == "user.65534.listed") {
            CHECK(provider.at("uid").as_int64() == 65534);
            CHECK(provider.at("gid").as_int64() == 65534);
            CHECK(provider.at("pid").as_int64() == nobody_user.pid());
            ++seen;
        } else if (s.at("name").as_string() == "rootlisted") {
            CHECK(provider.at("uid").as_int64() == 0);
            CHECK(provider.at("pid").as_int64() == ::getpid());
            ++seen;
        }
    }
    CHECK(seen == 2);
}

TEST_CASE("a refused register and a refused call are logged with the peer's pid and uid", "[security][policy][log]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket({"--policy", "deny call secret uid=65534"}));
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());
    raw_client provider(d.socket());
    REQUIRE(register_as(provider, 1, "secret").code() == 200);

    CHECK(register_as(n, 1, "foo").code() == 504);
    CHECK(n.request(2, "secret", due).code() == 504);

    const std::string who = "(pid " + std::to_string(nobody_user.pid()) + " uid 65534): ";
    const std::string provide_line = who + "provide foo refused by policy: deny provide * *";
    const std::string call_line = who + "call secret refused by policy: deny call secret uid=65534";
    CHECK(wait_until([&] {
        const std::string log = d.log();
        return log.find(provide_line) != std::string::npos && log.find(call_line) != std::string::npos;
    }, due));
    INFO(d.log());
    CHECK(d.log().find(provide_line) != std::string::npos);
    CHECK(d.log().find(call_line) != std::string::npos);
}

// --- Reload (SIGHUP) ---------------------------------------------------------------------------

TEST_CASE("SIGHUP applies a rewritten policy: connections stay, what it refuses is revoked with 504",
          "[security][policy][reload]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    const std::string conf = dir.file("junctiond.conf");
    write_file(conf, "# no rules: the defaults\n");
    daemon_process d(dir, open_socket({"--config", conf}));
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());
    raw_client root(d.socket());
    raw_client provider(d.socket());
    for (const char* name : {"svc", "other", "backup.db"})
        REQUIRE(register_as(provider, 100 + static_cast<std::uint32_t>(std::strlen(name)), name).code() == 200);

    // Opened before the reload: a session each that the new policy refuses, and one it allows.
    const std::uint32_t called = accepted_call(n, 1, "svc", provider);
    const std::uint32_t kept = accepted_call(n, 3, "other", provider);
    const std::uint32_t provided = accepted_call(root, 5, "backup.db", provider);

    write_file(conf, "policy = [\"deny call svc uid=65534\", \"deny provide backup.* *\"]\n");
    ::kill(d.pid(), SIGHUP);
    REQUIRE(wait_until([&] { return count_of(d.log(), "config reloaded (2 policy rules)") == 1; }, due));

    // Revoked: each side of each refused session gets 504 naming the rule.
    const packet n_end = n.recv(due);
    CHECK(n_end.id() == 1);
    CHECK(n_end.code() == 504);
    CHECK(n_end.message() == "policy: deny call svc uid=65534");
    const packet root_end = root.recv(due);
    CHECK(root_end.id() == 5);
    CHECK(root_end.message() == "policy: deny provide backup.* *");
    std::map<std::uint32_t, std::string> provider_ends;
    for (int i = 0; i < 2; ++i) {
        const packet p = provider.recv(due);
        CHECK(p.type() == update_type);
        CHECK(p.code() == 504);
        provider_ends[p.id()] = p.message();
    }
    CHECK(provider_ends == std::map<std::uint32_t, std::string>{
                               {called, "policy: deny call svc uid=65534"},
                               {provided, "policy: deny provide backup.* *"}});
    REQUIRE(wait_until([&] {
        return d.log().find("reload: the new policy removed 1 registrations and ended 2 sessions") !=
               std::string::npos;
    }, due));
    CHECK(d.log().find("service backup.db unregistered by the reloaded policy: deny provide backup.* *") !=
          std::string::npos);

    // New sessions meet the new policy; the registration is gone.
    const packet refused = n.request(7, "svc", due);
    CHECK(refused.code() == 504);
    CHECK(refused.message() == "policy: deny call svc uid=65534");
    CHECK(root.request(9, "backup.db", due).code() == 511);
    // The session it allows goes on, both ways, on the same connections.
    n.send(packet_type::update, 3, "200\nstill here");
    const packet up = provider.recv(due);
    CHECK(up.type() == update_type);
    CHECK(up.id() == kept);
    CHECK(up.payload == "200\nstill here");
    provider.send(packet_type::response, kept, "200 OK\nyes");
    CHECK(n.recv(due).content() == "yes");
}

TEST_CASE("SIGHUP with a uid too large for a number in a rule is rejected and the daemon runs on",
          "[security][policy][reload]") {
    // Regression: std::stoul threw std::out_of_range, which parse_config() did not
    // catch; the exception left the SIGHUP handler and aborted the daemon.
    temp_dir dir;
    const std::string conf = dir.file("junctiond.conf");
    write_file(conf, "# defaults\n");
    daemon_process d(dir, open_socket({"--config", conf}));
    write_file(conf, "policy = \"deny call svc uid=99999999999999999999\"\n");
    ::kill(d.pid(), SIGHUP);
    CHECK(wait_until([&] { return d.log().find("reload rejected") != std::string::npos || !d.process().running(); }, due));
    INFO(d.log());
    CHECK(d.process().running());
    CHECK(d.log().find("reload rejected") != std::string::npos);
}

TEST_CASE("SIGHUP with uid=4294967296 in a rule is rejected, not read as uid 0",
          "[security][policy][reload]") {
    // Regression: the number was cast to 32 bits, so 4294967296 became 0 and the
    // rule silently applied to root instead.
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    const std::string conf = dir.file("junctiond.conf");
    write_file(conf, "# defaults\n");
    daemon_process d(dir, open_socket({"--config", conf}));
    raw_client provider(d.socket());
    REQUIRE(register_as(provider, 1, "svc").code() == 200);
    write_file(conf, "policy = \"deny call svc uid=4294967296\"\n");
    ::kill(d.pid(), SIGHUP);
    REQUIRE(wait_until([&] {
        const std::string log = d.log();
        return log.find("reload rejected") != std::string::npos || log.find("config reloaded") != std::string::npos;
    }, due));
    CHECK(d.log().find("reload rejected") != std::string::npos);
    // Whatever the daemon did with the file, root may still call svc.
    raw_client root(d.socket());
    root.send(packet_type::request, 2, "svc");
    const auto at_provider = provider.try_recv(std::chrono::milliseconds(1000));
    CHECK(at_provider.has_value());
    if (!at_provider) CHECK(root.recv(due).payload == "");  // shows the 504 root got instead
}

TEST_CASE("SIGHUP with an invalid config is rejected with a log line and the old policy stays", "[security][policy][reload]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    const std::string conf = dir.file("junctiond.conf");
    write_file(conf, "policy = \"deny call svc uid=65534\"\n");
    daemon_process d(dir, open_socket({"--config", conf}));
    other_user nobody_user(nobody);
    raw_client n = nobody_user.client(d.socket());
    raw_client provider(d.socket());
    REQUIRE(register_as(provider, 1, "svc").code() == 200);
    REQUIRE(n.request(1, "svc", due).code() == 504);

    write_file(conf, "policy = \"allow sometimes svc *\"\n");
    ::kill(d.pid(), SIGHUP);
    REQUIRE(wait_until([&] { return d.log().find("reload rejected") != std::string::npos; }, due));
    INFO(d.log());
    CHECK(d.log().find("reload rejected, keeping the running config: policy rule \"allow sometimes svc *\"") !=
          std::string::npos);

    // Still the old policy: refused for 65534, allowed for root. The daemon runs on.
    CHECK(n.request(2, "svc", due).code() == 504);
    raw_client root(d.socket());
    root.send(packet_type::request, 3, "svc");
    CHECK(next_request(provider).payload == "svc");
    CHECK(d.process().running());
}
