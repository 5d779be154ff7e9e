#include "net/policy/host_pattern.h"

#include <algorithm>

#include "net/policy/host_name.h"

namespace matchlock::net::policy {
namespace {

Error invalid_pattern(std::string_view text, std::string_view reason) {
  return invalid_argument("invalid host pattern \"" + std::string(text) +
                          "\": " + std::string(reason));
}

bool is_pattern_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*';
}

std::vector<std::string_view> split_labels(std::string_view name) {
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) {
      labels.push_back(name.substr(start));
      return labels;
    }
    labels.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
}

// One pattern label against one host label; the pattern holds at most one '*'.
bool label_matches(std::string_view pattern, std::string_view label) {
  size_t star = pattern.find('*');
  if (star == std::string_view::npos) return pattern == label;
  std::string_view prefix = pattern.substr(0, star);
  std::string_view suffix = pattern.substr(star + 1);
  return label.size() >= prefix.size() + suffix.size() && label.starts_with(prefix) &&
         label.ends_with(suffix);
}

bool looks_like_address(const std::vector<std::string_view>& labels) {
  return std::all_of(labels.begin(), labels.end(), [](std::string_view label) {
    return std::all_of(label.begin(), label.end(),
                       [](char c) { return (c >= '0' && c <= '9') || c == '*'; });
  });
}

}  // namespace

Result<HostPattern> HostPattern::parse(std::string_view text) {
  if (text.empty()) return invalid_pattern(text, "empty");
  HostPattern pattern;
  if (text == "*" || text == "*.") {
    pattern.kind_ = Kind::kEverything;
    pattern.text_ = "*";
    return pattern;
  }
  if (auto ip = IpAddress::parse(text)) {
    pattern.kind_ = Kind::kAddress;
    pattern.address_ = ip->canonical();
    pattern.text_ = ip->to_string();
    return pattern;
  }
  if (text.find(':') != std::string_view::npos || text.find('[') != std::string_view::npos) {
    return invalid_pattern(text, "not a valid IP address, and ports are not part of a pattern");
  }

  std::string normalized = normalize_host_name(text);
  if (normalized.empty()) return invalid_pattern(text, "empty");
  if (normalized.size() > kMaxHostNameLength) return invalid_pattern(text, "name too long");
  for (char c : normalized) {
    if (c != '.' && !is_pattern_label_char(c)) {
      return invalid_pattern(text, "only letters, digits, '-', '_', '.' and '*' are allowed");
    }
  }
  std::vector<std::string_view> labels = split_labels(normalized);
  for (std::string_view label : labels) {
    if (label.empty()) return invalid_pattern(text, "empty label");
    if (label.size() > kMaxLabelLength) return invalid_pattern(text, "label longer than 63");
    if (std::count(label.begin(), label.end(), '*') > 1) {
      return invalid_pattern(text, "at most one '*' per label");
    }
  }
  if (looks_like_address(labels)) {
    return invalid_pattern(text, "wildcards and partial addresses do not match IP addresses");
  }

  pattern.kind_ = Kind::kName;
  pattern.text_ = normalized;
  size_t first = 0;
  if (labels.size() > 1 && labels[0] == "*") {
    pattern.any_subdomain_ = true;
    first = 1;
  }
  for (size_t i = first; i < labels.size(); ++i) pattern.labels_.emplace_back(labels[i]);
  return pattern;
}

bool HostPattern::matches(std::string_view host) const {
  if (kind_ == Kind::kEverything) return true;
  std::optional<IpAddress> host_address = IpAddress::parse(host);
  if (kind_ == Kind::kAddress) return host_address && host_address->canonical() == *address_;
  if (host_address) return false;
  std::string normalized = normalize_host_name(host);
  if (!is_valid_host_name(normalized)) return false;  // fail closed on garbage
  return matches_name(normalized);
}

bool HostPattern::matches_name(std::string_view host) const {
  std::vector<std::string_view> host_labels = split_labels(host);
  if (any_subdomain_) {
    // At least one extra label: "*.example.com" never matches the apex.
    if (host_labels.size() <= labels_.size()) return false;
  } else if (host_labels.size() != labels_.size()) {
    return false;
  }
  size_t offset = host_labels.size() - labels_.size();
  for (size_t i = 0; i < offset; ++i) {
    if (host_labels[i].empty()) return false;  // "a..example.com"
  }
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (host_labels[offset + i].empty()) return false;
    if (!label_matches(labels_[i], host_labels[offset + i])) return false;
  }
  return true;
}

}  // namespace matchlock::net::policy
