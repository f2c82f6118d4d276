// The one place that lists every protocol error message.
#include "junction/proto/error.hpp"

#include <string>

namespace junction::proto {
namespace {

class proto_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "junction.proto"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::bad_version: return "unsupported protocol version";
            case errc::payload_too_large: return "payload over the size limit";
            case errc::reserved_type: return "reserved or unknown packet type";
            case errc::empty_request: return "empty request";
            case errc::bad_request_line: return "request line is not printable UTF-8";
            case errc::bad_service_name: return "invalid service name";
            case errc::no_code_line: return "payload has no code line";
            case errc::bad_code: return "code line does not start with a 3-digit code";
            case errc::message_too_large: return "message over the size limit";
        }
        return "unknown protocol error";
    }
};

}  // namespace

const std::error_category& category() noexcept {
    static const proto_category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace junction::proto
