// JSON-RPC requests from the client (engine/src/rpc/message.cpp) and the params parsers the
// session dispatches them to (create, exec env, file ops, port forwards, set_timeout).
// Invariants: a request's params are an object or an array; the lines built to answer it are
// single JSON lines; sanitize_utf8 is idempotent (its output is already valid UTF-8).
#include <rapidjson/document.h>

#include <string>
#include <variant>

#include "fuzz_check.h"
#include "rpc/create_params.h"
#include "rpc/exec_env_param.h"
#include "rpc/file_op_params.h"
#include "rpc/message.h"
#include "rpc/port_forward_params.h"
#include "rpc/set_timeout_params.h"

namespace rpc = matchlock::rpc;

namespace {

// One complete line: JSON that parses, then exactly one "\n", at the end.
void check_line(const std::string& line) {
  FUZZ_CHECK(!line.empty() && line.back() == '\n');
  FUZZ_CHECK(line.find('\n') == line.size() - 1);
  rapidjson::Document d;
  d.Parse(line.data(), line.size() - 1);
  FUZZ_CHECK(!d.HasParseError() && d.IsObject());
}

void parse_params(const rapidjson::Value* params) {
  (void)rpc::parse_create_params(params);
  (void)rpc::parse_stat_file_params(params);
  (void)rpc::parse_make_dir_params(params);
  (void)rpc::parse_remove_file_params(params);
  (void)rpc::parse_rename_file_params(params);
  (void)rpc::parse_port_forward_params(params);
  (void)rpc::parse_set_timeout_params(params);
  if (params && params->IsObject()) {
    auto env = params->FindMember("env");
    if (env != params->MemberEnd()) (void)rpc::parse_exec_env(&env->value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line = matchlock::fuzz::as_text(data, size);
  auto parsed = rpc::parse_request(line);
  if (auto* req = std::get_if<rpc::Request>(&parsed)) {
    FUZZ_CHECK(req->params == nullptr || req->params->IsObject() || req->params->IsArray());
    parse_params(req->params);
    if (req->params) check_line(rpc::result_line(req->id, *req->params));
    check_line(rpc::error_line(req->id, rpc::kInvalidParams, req->method));
  } else {
    const auto& rejected = std::get<rpc::RejectedLine>(parsed);
    FUZZ_CHECK(rejected.code == rpc::kParseError || rejected.code == rpc::kInvalidRequest);
    check_line(rpc::error_line(rejected.id, rejected.code, rejected.message));
  }

  std::string clean = rpc::sanitize_utf8(line);
  FUZZ_CHECK(rpc::sanitize_utf8(clean) == clean);
  check_line(rpc::data_notification_line("exec_stdout", 1, line));
  return 0;
}
