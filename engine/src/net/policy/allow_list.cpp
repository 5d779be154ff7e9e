#include "net/policy/allow_list.h"

#include <algorithm>

namespace matchlock::net::policy {
namespace {

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpaces = " \t\r\n\v\f";
  size_t begin = s.find_first_not_of(kSpaces);
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(kSpaces);
  return s.substr(begin, end - begin + 1);
}

}  // namespace

Result<AllowListAddResult> AllowList::add(const std::vector<std::string>& hosts) {
  std::vector<HostPattern> parsed;
  for (const std::string& host : hosts) {
    std::string_view trimmed = trim(host);
    if (trimmed.empty()) continue;
    auto pattern = HostPattern::parse(trimmed);
    if (!pattern.ok()) return pattern.error();
    parsed.push_back(std::move(*pattern));
  }
  AllowListAddResult result;
  for (HostPattern& pattern : parsed) {
    if (contains(pattern.text())) continue;
    result.added.push_back(pattern.text());
    patterns_.push_back(std::move(pattern));
  }
  result.allowed_hosts = this->hosts();
  return result;
}

AllowListDeleteResult AllowList::remove(const std::vector<std::string>& hosts) {
  std::vector<std::string> wanted;
  for (const std::string& host : hosts) {
    std::string_view trimmed = trim(host);
    if (trimmed.empty()) continue;
    auto pattern = HostPattern::parse(trimmed);
    if (pattern.ok()) wanted.push_back(pattern->text());
  }
  AllowListDeleteResult result;
  std::vector<HostPattern> kept;
  for (HostPattern& pattern : patterns_) {
    if (std::find(wanted.begin(), wanted.end(), pattern.text()) != wanted.end()) {
      result.removed.push_back(pattern.text());
    } else {
      kept.push_back(std::move(pattern));
    }
  }
  patterns_ = std::move(kept);
  result.allowed_hosts = this->hosts();
  return result;
}

bool AllowList::allows(std::string_view host) const {
  if (patterns_.empty()) return empty_means_ == EmptyListMeans::kAllowAll;
  return first_match(host) != nullptr;
}

const HostPattern* AllowList::first_match(std::string_view host) const {
  for (const HostPattern& pattern : patterns_) {
    if (pattern.matches(host)) return &pattern;
  }
  return nullptr;
}

std::vector<std::string> AllowList::hosts() const {
  std::vector<std::string> out;
  out.reserve(patterns_.size());
  for (const HostPattern& pattern : patterns_) out.push_back(pattern.text());
  return out;
}

bool AllowList::contains(std::string_view canonical) const {
  return std::any_of(patterns_.begin(), patterns_.end(),
                     [&](const HostPattern& p) { return p.text() == canonical; });
}

}  // namespace matchlock::net::policy
