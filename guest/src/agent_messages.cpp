#include "agent_messages.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "guest_protocol/protocol.h"

namespace matchlock::guest_agent {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_steps(Writer& writer, const std::vector<std::pair<std::string, double>>& steps) {
  writer.Key("steps");
  writer.StartArray();
  for (const auto& [name, ms] : steps) {
    writer.StartObject();
    writer.Key("step");
    writer.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    writer.Key("ms");
    writer.Double(ms);
    writer.EndObject();
  }
  writer.EndArray();
}

}  // namespace

std::string hello_message(int64_t boot_ms,
                          const std::vector<std::pair<std::string, double>>& steps) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("version");
  writer.Uint(guest_protocol::kProtocolVersion);
  writer.Key("agent");
  writer.String("matchlock-guest " MATCHLOCK_VERSION);
  writer.Key("boot_ms");
  writer.Int64(boot_ms);
  write_steps(writer, steps);
  writer.EndObject();
  return buffer.GetString();
}

std::string ready_message(std::string_view channel_token,
                          const std::vector<std::pair<std::string, double>>& steps) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("channel_token");
  writer.String(channel_token.data(), static_cast<rapidjson::SizeType>(channel_token.size()));
  write_steps(writer, steps);
  writer.EndObject();
  return buffer.GetString();
}

std::string error_message(std::string_view message, std::optional<int> exit_code) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("message");
  writer.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  if (exit_code) {
    writer.Key("exit_code");
    writer.Int(*exit_code);
  }
  writer.EndObject();
  return buffer.GetString();
}

std::string exec_started_message(pid_t pid) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("pid");
  writer.Int(pid);
  writer.EndObject();
  return buffer.GetString();
}

std::string file_error_message(std::string_view message, int error_number) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("message");
  writer.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  writer.Key("errno");
  writer.Int(error_number);
  writer.EndObject();
  return buffer.GetString();
}

std::string port_closed_message(std::string_view error) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("error");
  writer.String(error.data(), static_cast<rapidjson::SizeType>(error.size()));
  writer.EndObject();
  return buffer.GetString();
}

std::optional<int64_t> parse_host_hello_version(std::string_view payload) {
  rapidjson::Document doc;
  doc.Parse(payload.data(), payload.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  auto it = doc.FindMember("version");
  if (it == doc.MemberEnd() || !it->value.IsInt64()) return std::nullopt;
  return it->value.GetInt64();
}

}  // namespace matchlock::guest_agent
