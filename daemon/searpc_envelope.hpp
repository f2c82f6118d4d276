// The request envelope of libsearpc's named-pipe transport,
// {"service": "<name>", "request": "<call JSON>"}, read without building a
// JSON document. Pure logic; the gateway (searpc_gateway.hpp) owns one.
//
// Boost.JSON's basic_parser drives a SAX handler that keeps the two
// top-level strings and ignores every other member, while still checking the
// whole text (syntax, UTF-8) exactly as boost::json::parse does. The verdicts
// are those of boost::json::parse followed by if_contains() on the object: a
// repeated member counts by its last occurrence; a member that is not a
// string does not count. Measured: the document parse was 26% of the
// gateway's instructions per call (xk, callgrind); see docs/performance.md.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace junction::daemon {

struct searpc_envelope {
    std::string service, request;
    bool is_object = false;    // the text is one JSON object
    bool has_service = false;  // "service" is there, and a string
    bool has_request = false;  // "request" is there, and a string
};

class envelope_reader {
public:
    envelope_reader();
    ~envelope_reader();
    envelope_reader(const envelope_reader&) = delete;
    envelope_reader& operator=(const envelope_reader&) = delete;

    // False with `ec` set when `body` is not one valid JSON text; then `out`'s
    // fields are unspecified.
    bool read(std::string_view body, searpc_envelope& out, boost::system::error_code& ec);

private:
    struct impl;
    std::unique_ptr<impl> impl_;  // the parser and its handler (basic_parser stays out of this header)
};

}  // namespace junction::daemon
