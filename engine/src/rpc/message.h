// JSON-RPC 2.0 messages as the matchlock SDKs speak them: parsing one request line and
// serializing responses and notifications (each a complete line ending in "\n").
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace matchlock::rpc {

// Error codes on the wire (docs/rpc.md).
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kVmFailed = -32000;
inline constexpr int kExecFailed = -32001;
inline constexpr int kFileFailed = -32002;
inline constexpr int kCancelled = -32003;

inline constexpr const char* kCancelledMessage = "context canceled";

struct RpcError {
  int code = kInternalError;
  std::string message;
};

struct Request {
  std::string method;
  std::optional<uint64_t> id;  // absent for notifications
  // The parsed line; `params` points into it (nullptr when absent or null).
  std::shared_ptr<rapidjson::Document> doc;
  const rapidjson::Value* params = nullptr;
};

// A line that is not a request we serve, and the one error that answers it. `id` is set when
// the line carried a usable id (JSON-RPC 2.0 answers an invalid request with its id if known).
struct RejectedLine {
  int code = kInvalidRequest;
  std::string message;
  std::optional<uint64_t> id;
};

// Parses one line (docs/rpc.md, "Errors"): -32700 only for text that is not JSON; -32600 for
// JSON that is not a request we serve: a batch (an array, empty or not), a non-object, a
// `jsonrpc` other than "2.0", a missing or non-string `method`, an id that is not an unsigned
// integer (the SDKs' ids), or `params` that is neither an object nor an array.
std::variant<Request, RejectedLine> parse_request(std::string_view line);

std::string result_line(std::optional<uint64_t> id, const rapidjson::Value& result);
// A result object made of `small`'s members followed by byte payloads as base64 strings (exec's
// stdout/stderr, read_file's content). The line is built once at its final size with the
// payloads encoded in place: replying with N bytes holds 4N/3 more, not a DOM copy and a growing
// buffer on top. Keys are the caller's literals (plain ASCII, never escaped).
struct Base64Member {
  const char* key;
  // The payload in order; every piece but the last a multiple of 3 bytes (BlockBuffer's
  // blocks), so they encode one after another.
  std::vector<std::string_view> pieces;
  // Called with a piece's index once it is encoded: its owner may free it there, so the raw
  // bytes shrink while the line grows.
  std::function<void(size_t)> encoded = {};
};
std::string result_line_with_payloads(std::optional<uint64_t> id, const rapidjson::Value& small,
                                      std::initializer_list<Base64Member> payloads);
std::string error_line(std::optional<uint64_t> id, int code, std::string_view message);
std::string notification_line(std::string_view method, const rapidjson::Value& params);
// The common request-scoped notification {"id":N,"data":<base64 of bytes>}.
std::string data_notification_line(std::string_view method, uint64_t id, std::string_view bytes);
// {"id":N} (ready notifications).
std::string id_notification_line(std::string_view method, uint64_t id);

// Replaces invalid UTF-8 sequences with U+FFFD so text from the guest cannot break the JSON.
std::string sanitize_utf8(std::string_view text);

}  // namespace matchlock::rpc
