#include "boot_settings.h"

#include <rapidjson/document.h>

#include "core/base64.h"
#include "guest_protocol/channel_token.h"

namespace matchlock::guest_agent {

Result<BootSettings> parse_boot_settings(std::string_view payload) {
  rapidjson::Document config;
  config.Parse(payload.data(), payload.size());
  if (config.HasParseError() || !config.IsObject()) {
    return invalid_argument("config: not a JSON object");
  }
  BootSettings settings;
  auto token = config.FindMember("channel_token");
  if (token == config.MemberEnd() || !token->value.IsString() ||
      !guest_protocol::is_channel_token(
          {token->value.GetString(), token->value.GetStringLength()})) {
    return invalid_argument("config: channel_token is missing or not " +
                            std::to_string(guest_protocol::kChannelTokenLength) + " hex digits");
  }
  settings.channel_token = token->value.GetString();
  auto entropy = config.FindMember("entropy");
  if (entropy == config.MemberEnd() || !entropy->value.IsString()) {
    return invalid_argument("config: entropy is missing or not a string");
  }
  auto bytes = base64::decode({entropy->value.GetString(), entropy->value.GetStringLength()});
  if (!bytes || bytes->size() != kHostEntropyBytes) {
    return invalid_argument("config: entropy is not base64 of " +
                            std::to_string(kHostEntropyBytes) + " bytes");
  }
  settings.entropy = std::move(*bytes);
  if (auto it = config.FindMember("time_unix_ms"); it != config.MemberEnd()) {
    if (!it->value.IsInt64()) return invalid_argument("config: time_unix_ms is not an integer");
    settings.time_unix_ms = it->value.GetInt64();
  }
  if (auto it = config.FindMember("restored"); it != config.MemberEnd()) {
    if (!it->value.IsBool()) return invalid_argument("config: restored is not a boolean");
    settings.restored = it->value.GetBool();
  }
  if (auto it = config.FindMember("disks"); it != config.MemberEnd()) {
    settings.data_disks = it->value.IsArray() && !it->value.Empty();
  }
  return settings;
}

}  // namespace matchlock::guest_agent
