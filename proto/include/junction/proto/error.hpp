// The protocol's own error codes, wired into std::error_code.
// Every message lives in one place: src/error.cpp.
#pragma once

#include <system_error>

namespace junction::proto {

enum class errc {
    bad_version = 1,      // header version is not 1: the stream cannot be trusted
    payload_too_large,    // header length over the configured payload limit
    reserved_type,        // packet type 0, 1, 5, 6 or unknown
    empty_request,        // REQUEST payload is empty
    bad_request_line,     // REQUEST text is not UTF-8 or holds control bytes
    bad_service_name,     // service name outside the allowed characters or length
    no_code_line,         // RESPONSE/UPDATE payload without the "\n" ending its code line
    bad_code,             // code line does not start with a 3-digit code 100..599
    message_too_large,    // a chunked message exceeds the message limit
};

const std::error_category& category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace junction::proto

template <>
struct std::is_error_code_enum<junction::proto::errc> : std::true_type {};
