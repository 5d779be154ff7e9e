#include "image/registry/www_authenticate.h"

#include <cctype>

namespace matchlock::image::registry {
namespace {

constexpr size_t kMaxHeader = 8192;

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  void bump() { ++i_; }
  size_t pos() const { return i_; }
  void seek(size_t p) { i_ = p; }
  std::string_view token() {
    size_t start = i_;
    while (i_ < s_.size() && is_tchar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  // token68 may end in '=' padding (Basic credentials style); only used as a fallback.
  Result<std::string> quoted() {
    std::string out;
    bump();  // opening quote
    while (!done()) {
      char c = s_[i_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (done()) break;
        c = s_[i_++];
      }
      out.push_back(c);
    }
    return invalid_argument("unterminated quoted string");
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

Result<std::vector<Challenge>> parse_www_authenticate(std::string_view header) {
  auto bad = [](const std::string& why) {
    return invalid_argument("malformed WWW-Authenticate header: " + why);
  };
  if (header.size() > kMaxHeader) return bad("too long");
  std::vector<Challenge> out;
  Scanner sc(header);
  while (true) {
    sc.skip_ws();
    while (sc.peek() == ',') {
      sc.bump();
      sc.skip_ws();
    }
    if (sc.done()) break;
    std::string_view scheme = sc.token();
    if (scheme.empty()) return bad("expected an auth scheme");
    Challenge ch;
    ch.scheme = lower(scheme);
    // auth-params: name = (token | quoted-string), comma separated. A token not followed by
    // '=' starts the next challenge.
    while (true) {
      sc.skip_ws();
      while (sc.peek() == ',') {
        sc.bump();
        sc.skip_ws();
      }
      if (sc.done()) break;
      size_t mark = sc.pos();
      std::string_view name = sc.token();
      if (name.empty()) return bad("unexpected character '" + std::string(1, sc.peek()) + "'");
      sc.skip_ws();
      if (sc.peek() != '=') {
        sc.seek(mark);  // next challenge's scheme
        break;
      }
      sc.bump();
      sc.skip_ws();
      std::string value;
      if (sc.peek() == '"') {
        auto q = sc.quoted();
        if (!q) return bad(q.error().message);
        value = std::move(*q);
      } else {
        value = std::string(sc.token());
        while (sc.peek() == '=') {  // token68 padding
          value.push_back('=');
          sc.bump();
        }
      }
      if (ch.params.size() >= 32) return bad("too many parameters");
      ch.params[lower(name)] = std::move(value);
    }
    if (out.size() >= 8) return bad("too many challenges");
    out.push_back(std::move(ch));
  }
  if (out.empty()) return bad("empty");
  return out;
}

}  // namespace matchlock::image::registry
