// Host names as policy sees them: one spelling per name, so matching never depends on case, a
// trailing dot, a port or IPv6 brackets. Input is guest-controlled text (Host header, SNI,
// absolute-form URL); anything outside the accepted grammar is rejected, never "repaired".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace matchlock::net::policy {

// RFC 1035 limits on the presentation form.
constexpr size_t kMaxHostNameLength = 253;
constexpr size_t kMaxLabelLength = 63;

// ASCII-lowercased, one trailing dot removed. No validation.
std::string normalize_host_name(std::string_view host);

// True for a normalized name of dot-separated labels of [a-z0-9-_], each 1..63 chars, at most
// 253 in all. '_' is accepted because real names use it (_dmarc, some CDN hosts).
bool is_valid_host_name(std::string_view normalized);

// The host part of an authority: "Example.COM:8080" -> "example.com", "[::1]:8080" -> "::1",
// "[::1]" -> "::1", "::1" (unbracketed v6 with no port) -> "::1", "10.0.0.1:80" -> "10.0.0.1".
// The result is normalized and is either a valid host name or an IP literal (canonical text,
// no brackets). nullopt for anything else: empty, a bad or out-of-range port, userinfo ('@'),
// unbalanced brackets, invalid characters.
std::optional<std::string> host_from_authority(std::string_view authority);

}  // namespace matchlock::net::policy
