// packet helpers that need no inline definition.
#include "junction/packet.hpp"

namespace junction {

std::string packet::code_line() const {
    std::string out = std::to_string(code);
    if (!message.empty()) {
        out += ' ';
        out += message;
    }
    return out;
}

}  // namespace junction
