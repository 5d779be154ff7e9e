// Small helpers over RapidJSON shared by the modules.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <string>
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
