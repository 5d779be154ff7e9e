// Small helpers over RapidJSON shared by the modules.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace matchlock::json {

// A RapidJSON writer that never leaves its output half-written. RapidJSON parses a number too
// large for a double (e.g. 1644478407370955161E300) as infinity, and its writer stops at a
// non-finite double, returning false, in the middle of the text. JSON has no infinity: write
// null instead, so re-serialising what a client or guest sent always gives one valid document.
template <typename BaseWriter>
class FiniteWriter : public BaseWriter {
 public:
  using BaseWriter::BaseWriter;
  bool Double(double d) { return std::isfinite(d) ? BaseWriter::Double(d) : BaseWriter::Null(); }
};

// The writers every module uses (never rapidjson's own, see FiniteWriter).
using Writer = FiniteWriter<rapidjson::Writer<rapidjson::StringBuffer>>;
using PrettyWriter = FiniteWriter<rapidjson::PrettyWriter<rapidjson::StringBuffer>>;

// Nesting deeper than this is refused. RapidJSON's parser, its writers and DOM comparisons
// recurse once per level, so a document nested a million levels deep (a 1 MB line of '[', from
// a guest, a registry or a client) would overflow the stack. Real documents (manifests, rpc
// params, LLM requests with tool schemas) stay far below.
inline constexpr size_t kMaxDepth = 512;

// The length of the longest prefix of `text` whose brackets nest at most `max_depth` deep
// (brackets inside strings do not count): text.size() when all of it does. Never less deep
// than RapidJSON would go on the same text, which stops at the first error.
inline size_t within_depth(std::string_view text, size_t max_depth = kMaxDepth) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i + 1;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return text.size();
}

// The Document every module parses with: Parse reads only the part of the text nested within
// kMaxDepth, so a deeper document fails like an incomplete one (HasParseError, its offset where
// it got too deep) instead of exhausting the stack.
class Document : public rapidjson::Document {
 public:
  using Base = rapidjson::Document;
  using Base::Base;

  template <unsigned flags = rapidjson::kParseDefaultFlags>
  Document& Parse(const char* text, size_t length) {
    Base::Parse<flags>(text, within_depth({text, length}));
    return *this;
  }
  template <unsigned flags = rapidjson::kParseDefaultFlags>
  Document& Parse(const char* text) {
    return Parse<flags>(text, std::char_traits<char>::length(text));
  }
  template <unsigned flags = rapidjson::kParseDefaultFlags>
  Document& Parse(const std::string& text) {
    return Parse<flags>(text.data(), text.size());
  }
};

inline std::string to_string(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

inline rapidjson::Value str(const std::string& s, rapidjson::Document::AllocatorType& a) {
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

inline rapidjson::Value str_array(const std::vector<std::string>& v,
                                  rapidjson::Document::AllocatorType& a) {
  rapidjson::Value arr(rapidjson::kArrayType);
  for (const auto& s : v) arr.PushBack(str(s, a), a);
  return arr;
}

// Typed lookups that tolerate absent or mistyped members (hostile or sloppy input).
inline const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

inline std::string get_string(const rapidjson::Value& obj, const char* name,
                              const std::string& fallback = "") {
  const auto* m = member(obj, name);
  return m && m->IsString() ? std::string(m->GetString(), m->GetStringLength()) : fallback;
}

inline int64_t get_int(const rapidjson::Value& obj, const char* name, int64_t fallback = 0) {
  const auto* m = member(obj, name);
  return m && m->IsInt64() ? m->GetInt64() : fallback;
}

}  // namespace matchlock::json
