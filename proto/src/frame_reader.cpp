// Header checks of the frame reader (the byte handling is inline in the header).
#include "junction/proto/frame_reader.hpp"

namespace junction::proto {

bool frame_reader::reject(const header& h) noexcept {
    if (h.version != protocol_version) {
        error_ = errc::bad_version;
    } else if (!is_session_type(h.type)) {
        // Judged on the header alone: no need to wait for a payload that is discarded.
        error_ = errc::reserved_type;
    } else {
        error_ = errc::payload_too_large;
    }
    bad_header_ = h;
    return false;
}

}  // namespace junction::proto
