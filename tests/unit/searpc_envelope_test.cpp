// The searpc request envelope reader (daemon/searpc_envelope.hpp) against the
// reference it replaces: boost::json::parse, then if_contains() on the object.
// Every case must give the same verdict and the same two strings.
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "searpc_envelope.hpp"

using junction::daemon::envelope_reader;
using junction::daemon::searpc_envelope;
namespace json = boost::json;

namespace {

// What the gateway took from a body before the SAX reader: the reference.
struct verdict {
    bool parsed = false;
    bool usable = false;  // an object with "service" and "request" both strings
    std::string service, request;
    friend bool operator==(const verdict&, const verdict&) = default;
};

std::ostream& operator<<(std::ostream& os, const verdict& v) {
    return os << "{parsed " << v.parsed << ", usable " << v.usable << ", service \"" << v.service
              << "\", request " << v.request.size() << " bytes}";
}

verdict reference(std::string_view body) {
    verdict v;
    boost::system::error_code ec;
    const json::value doc = json::parse(body, ec);
    v.parsed = !ec;
    const json::object* obj = v.parsed ? doc.if_object() : nullptr;
    const json::value* svc = obj ? obj->if_contains("service") : nullptr;
    const json::value* req = obj ? obj->if_contains("request") : nullptr;
    v.usable = svc && svc->is_string() && req && req->is_string();
    if (v.usable) {
        v.service = std::string(svc->as_string());
        v.request = std::string(req->as_string());
    }
    return v;
}

verdict sax(envelope_reader& reader, std::string_view body) {
    verdict v;
    searpc_envelope env;
    boost::system::error_code ec;
    v.parsed = reader.read(body, env, ec);
    CHECK(v.parsed == !ec);
    v.usable = v.parsed && env.is_object && env.has_service && env.has_request;
    if (v.usable) {
        v.service = env.service;
        v.request = env.request;
    }
    return v;
}

std::string long_escaped_request() {
    // Escapes force the parser to hand the string over in parts (on_string_part).
    std::string call = R"(["f", ")";
    for (int i = 0; i < 800; ++i) call += R"(\u00e9\"\\x)";
    call += R"("])";
    std::string escaped;
    for (const char c : call) {
        if (c == '"' || c == '\\') escaped += '\\';
        escaped += c;
    }
    return R"({"service": "svc", "request": ")" + escaped + R"("})";
}

}  // namespace

TEST_CASE("searpc envelope: the SAX reader agrees with boost::json::parse on every shape",
          "[gateway][envelope]") {
    const std::vector<std::string> bodies{
        R"({"service": "calc", "request": "[\"add\", 2, 40]"})",
        R"({"request":"[]","service":"calc"})",
        R"({"service":"calc","request":"[]","extra":[1,{"service":"no"}],"n":null})",
        // Repeated members: the last one counts, whatever its type.
        R"({"service":"a","service":"b","request":"[]"})",
        R"({"service":"a","service":1,"request":"[]"})",
        R"({"service":1,"service":"a","request":"[]"})",
        R"({"service":"a","request":"[]","request":{"x":"y"}})",
        // Not strings, or nested: not usable.
        R"({"service":["calc"],"request":"[]"})",
        R"({"service":"calc","request":["add"]})",
        R"({"service":"calc","request":true})",
        R"({"service":"calc","request":1.5})",
        R"({"x":{"service":"calc","request":"[]"}})",
        R"({"service":"calc"})",
        R"({})",
        // Not an object at the top.
        R"([{"service":"calc","request":"[]"}])",
        R"("service")",
        R"(42)",
        R"(null)",
        // Escaped keys and values.
        R"({"serv\u0069ce":"c\"a\\lc","request":"[\"\u00e9\"]"})",
        long_escaped_request(),
        // Not JSON, or more than one text.
        R"({"service":"calc","request":"[]"}})",
        R"({"service":"calc","request":"[]"} {})",
        R"({"service":"calc","request":"[]")",
        "{\"service\":\"\xff\",\"request\":\"[]\"}",
        R"({"service":"calc",})",
        "",
        "   ",
        R"({"service":"calc","request":"[]"}   )",
    };
    envelope_reader reader;  // one reader for every case: reset between reads is part of the contract
    for (const auto& body : bodies) {
        INFO("body: " << body.substr(0, 120));
        const verdict want = reference(body);
        CHECK(sax(reader, body) == want);
    }
}

TEST_CASE("searpc envelope: a failed read leaves nothing behind for the next one", "[gateway][envelope]") {
    envelope_reader reader;
    CHECK_FALSE(sax(reader, R"({"service":"a","request":)").parsed);
    CHECK(sax(reader, R"({"service":"b","request":"[1]"})") == verdict{true, true, "b", "[1]"});
    CHECK(sax(reader, R"({"service":"c"})") == verdict{true, false, "", ""});
}
