#include "rpc/message.h"

#include <cassert>
#include <cstring>

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/base64.h"
#include "core/json.h"

namespace matchlock::rpc {
namespace {

using Writer = json::Writer;

void write_string(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void begin(Writer& w) {
  w.StartObject();
  w.Key("jsonrpc");
  w.String("2.0");
}

std::string finish(Writer& w, rapidjson::StringBuffer& sb) {
  w.EndObject();
  std::string out(sb.GetString(), sb.GetSize());
  out.push_back('\n');
  return out;
}

// Length of a valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  // Reject overlong forms, surrogates and values beyond Unicode.
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

std::variant<Request, RejectedLine> parse_request(std::string_view line) {
  auto doc = std::make_shared<json::Document>();
  doc->Parse(line.data(), line.size());
  if (doc->HasParseError()) {
    if (json::within_depth(line) < line.size()) {
      return RejectedLine{
          kParseError,
          "Parse error: nested deeper than " + std::to_string(json::kMaxDepth) + " levels",
          std::nullopt};
    }
    return RejectedLine{kParseError, "Parse error", std::nullopt};
  }
  // One error for a whole batch: its replies would have to be gathered into one array, and
  // no SDK sends one.
  if (doc->IsArray())
    return RejectedLine{kInvalidRequest, "Invalid Request: batches are not supported",
                        std::nullopt};
  if (!doc->IsObject())
    return RejectedLine{kInvalidRequest, "Invalid Request: not an object", std::nullopt};

  Request r;
  // The id first, so that the other errors can name the request they answer.
  if (auto it = doc->FindMember("id"); it != doc->MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsUint64())
      return RejectedLine{kInvalidRequest, "Invalid Request: id must be an unsigned integer",
                          std::nullopt};
    r.id = it->value.GetUint64();
  }
  auto version = doc->FindMember("jsonrpc");
  if (version == doc->MemberEnd() || !version->value.IsString() ||
      std::string_view(version->value.GetString(), version->value.GetStringLength()) != "2.0")
    return RejectedLine{kInvalidRequest, R"(Invalid Request: jsonrpc must be "2.0")", r.id};
  auto method = doc->FindMember("method");
  if (method == doc->MemberEnd() || method->value.IsNull())
    return RejectedLine{kInvalidRequest, "Invalid Request: method is required", r.id};
  if (!method->value.IsString())
    return RejectedLine{kInvalidRequest, "Invalid Request: method must be a string", r.id};
  r.method.assign(method->value.GetString(), method->value.GetStringLength());
  if (r.method.empty())
    return RejectedLine{kInvalidRequest, "Invalid Request: method is required", r.id};
  if (auto it = doc->FindMember("params"); it != doc->MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsObject() && !it->value.IsArray())
      return RejectedLine{kInvalidRequest, "Invalid Request: params must be an object or array",
                          r.id};
    r.params = &it->value;
  }
  r.doc = std::move(doc);
  return r;
}

std::string result_line(std::optional<uint64_t> id, const rapidjson::Value& result) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  begin(w);
  w.Key("result");
  if (result.IsObject()) {
    result.Accept(w);
  } else {  // results are always objects on the wire
    w.StartObject();
    w.EndObject();
  }
  if (id) {
    w.Key("id");
    w.Uint64(*id);
  }
  return finish(w, sb);
}

std::string result_line_with_payloads(std::optional<uint64_t> id, const rapidjson::Value& small,
                                      std::initializer_list<Base64Member> payloads) {
  // The small members through the writer, then the payloads spliced in before the result's
  // closing brace.
  std::string head = result_line(std::nullopt, small);
  // head is {"jsonrpc":"2.0","result":{...}}\n: keep it up to the result's closing brace.
  head.resize(head.size() - 3);
  bool first = head.back() == '{';
  std::string tail = "}";
  if (id) tail += ",\"id\":" + std::to_string(*id);
  tail += "}\n";
  size_t size = head.size() + tail.size();
  for (const auto& p : payloads) {
    size += std::strlen(p.key) + 6;
    for (std::string_view piece : p.pieces) size += base64::encoded_size(piece.size());
  }
  std::string line;
  line.reserve(size);
  line += head;
  for (const auto& p : payloads) {
    if (!first) line += ',';
    first = false;
    line += '"';
    line += p.key;
    line += "\":\"";
    for (size_t i = 0; i < p.pieces.size(); ++i) {
      assert(i + 1 == p.pieces.size() || p.pieces[i].size() % 3 == 0);
      base64::encode_append(line, p.pieces[i]);
      if (p.encoded) p.encoded(i);
    }
    line += '"';
  }
  line += tail;
  return line;
}

std::string error_line(std::optional<uint64_t> id, int code, std::string_view message) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  begin(w);
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.Int(code);
  w.Key("message");
  write_string(w, sanitize_utf8(message));
  w.EndObject();
  if (id) {
    w.Key("id");
    w.Uint64(*id);
  }
  return finish(w, sb);
}

std::string notification_line(std::string_view method, const rapidjson::Value& params) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  begin(w);
  w.Key("method");
  write_string(w, method);
  w.Key("params");
  params.Accept(w);
  return finish(w, sb);
}

namespace {

// A request-scoped notification: params {"id": N} plus, for output, {"data": base64}.
std::string request_notification_line(std::string_view method, uint64_t id,
                                      const std::string_view* bytes) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  begin(w);
  w.Key("method");
  write_string(w, method);
  w.Key("params");
  w.StartObject();
  w.Key("id");
  w.Uint64(id);
  if (bytes) {
    w.Key("data");
    write_string(w, base64::encode(*bytes));
  }
  w.EndObject();
  return finish(w, sb);
}

}  // namespace

std::string data_notification_line(std::string_view method, uint64_t id, std::string_view bytes) {
  return request_notification_line(method, id, &bytes);
}

std::string id_notification_line(std::string_view method, uint64_t id) {
  return request_notification_line(method, id, nullptr);
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_sequence_length(text, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace matchlock::rpc
