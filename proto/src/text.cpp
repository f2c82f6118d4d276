// Request-line and code-line parsing and formatting.
#include "junction/proto/text.hpp"

#include <algorithm>
#include <cstring>

namespace junction::proto {

namespace {
constexpr bool is_alnum(unsigned char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_sep(char c) noexcept { return c == ' ' || c == '\t'; }

// The message as it goes on the wire: cut at its first '\n' (which would end the
// code line early and turn the rest into content), then shortened so that
// "<ddd> <message>\n<content>" fits max_payload. Every writer and the size
// computation go through here, so they agree on the bytes.
std::string_view fit_message(std::string_view message, std::size_t content_size) noexcept {
    message = message.substr(0, std::min(message.find('\n'), message.size()));
    const std::size_t room = max_payload - std::min(max_payload, content_size + 5);
    if (message.size() > room) message = message.substr(0, room);
    return message;
}
}  // namespace

bool valid_service_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_service_name) return false;
    if (!is_alnum(static_cast<unsigned char>(name[0]))) return false;
    return std::all_of(name.begin(), name.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
    });
}

bool valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int extra;
        std::uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            extra = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - p <= extra) return false;
        for (int i = 1; i <= extra; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        // Overlong forms, surrogates, and code points past U+10FFFF.
        static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[extra] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
        p += extra + 1;
    }
    return true;
}

std::string_view strip_nul(std::string_view s) noexcept {
    if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
    return s;
}

std::error_code parse_request(std::span<const std::uint8_t> payload, request_line& out) noexcept {
    const std::string_view line = strip_nul(as_text(payload));
    if (line.empty()) return errc::empty_request;
    for (const char ch : line) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7F) return errc::bad_request_line;
    }
    if (!valid_utf8(line)) return errc::bad_request_line;
    std::size_t start = 0;
    while (start < line.size() && is_sep(line[start])) ++start;
    std::size_t end = start;
    while (end < line.size() && !is_sep(line[end])) ++end;
    std::size_t rest = end;
    while (rest < line.size() && is_sep(line[rest])) ++rest;
    out.service = line.substr(start, end - start);
    out.args = line.substr(rest);
    out.line = line;
    if (out.service.empty()) return errc::empty_request;
    if (!valid_service_name(out.service)) return errc::bad_service_name;
    return {};
}

std::vector<std::string_view> split_args(std::string_view args) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < args.size()) {
        while (i < args.size() && is_sep(args[i])) ++i;
        std::size_t j = i;
        while (j < args.size() && !is_sep(args[j])) ++j;
        if (j > i) out.push_back(args.substr(i, j - i));
        i = j;
    }
    return out;
}

std::error_code parse_code_line(std::span<const std::uint8_t> payload, code_line& out) noexcept {
    const std::string_view text = as_text(payload);
    // Most code lines on the routing path are a bare code ("200\n"): no search.
    const std::size_t nl = text.size() > 3 && text[3] == '\n' ? 3 : text.find('\n');
    if (nl == std::string_view::npos) {
        // Distinguish "not even a code" from "a code but no newline".
        if (text.size() < 3 || !std::all_of(text.begin(), text.begin() + 3, [](char c) {
                return c >= '0' && c <= '9';
            }))
            return errc::bad_code;
        return errc::no_code_line;
    }
    const std::string_view line = text.substr(0, nl);
    if (line.size() < 3) return errc::bad_code;
    for (int i = 0; i < 3; ++i)
        if (line[i] < '0' || line[i] > '9') return errc::bad_code;
    const auto c = static_cast<std::uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 +
                                              (line[2] - '0'));
    if (c < 100 || c > 599) return errc::bad_code;
    if (line.size() > 3 && line[3] != ' ') return errc::bad_code;
    out.code = c;
    out.message = line.size() > 4 ? line.substr(4) : std::string_view{};
    out.content = payload.subspan(nl + 1);
    return {};
}

std::string format_code_line(std::uint16_t code, std::string_view message) {
    message = fit_message(message, 0);
    std::string s(3, '0');
    s[0] = static_cast<char>('0' + code / 100 % 10);
    s[1] = static_cast<char>('0' + code / 10 % 10);
    s[2] = static_cast<char>('0' + code % 10);
    if (!message.empty()) {
        s += ' ';
        s += message;
    }
    s += '\n';
    return s;
}

std::size_t code_payload_size(std::string_view message, std::size_t content_size) noexcept {
    message = fit_message(message, content_size);
    return 3 + (message.empty() ? 0 : 1 + message.size()) + 1 + content_size;
}

void append_packet(std::vector<std::uint8_t>& out, packet_type type, std::uint32_t id,
                   std::span<const std::uint8_t> payload) {
    const header h{protocol_version, static_cast<std::uint8_t>(type),
                   static_cast<std::uint16_t>(payload.size()), id};
    const std::size_t at = out.size();
    out.resize(at + header_size + payload.size());
    encode_header(h, std::span<std::uint8_t, header_size>(out.data() + at, header_size));
    if (!payload.empty()) std::memcpy(out.data() + at + header_size, payload.data(), payload.size());
}

void append_code_packet(std::vector<std::uint8_t>& out, packet_type type, std::uint32_t id,
                        std::uint16_t code, std::string_view message,
                        std::span<const std::uint8_t> content) {
    message = fit_message(message, content.size());
    const std::size_t payload = code_payload_size(message, content.size());
    const header h{protocol_version, static_cast<std::uint8_t>(type),
                   static_cast<std::uint16_t>(payload), id};
    const std::size_t at = out.size();
    out.resize(at + header_size + payload);
    std::uint8_t* p = out.data() + at;
    encode_header(h, std::span<std::uint8_t, header_size>(p, header_size));
    p += header_size;
    *p++ = static_cast<std::uint8_t>('0' + code / 100 % 10);
    *p++ = static_cast<std::uint8_t>('0' + code / 10 % 10);
    *p++ = static_cast<std::uint8_t>('0' + code % 10);
    if (!message.empty()) {
        *p++ = ' ';
        std::memcpy(p, message.data(), message.size());
        p += message.size();
    }
    *p++ = '\n';
    if (!content.empty()) std::memcpy(p, content.data(), content.size());
}

}  // namespace junction::proto
