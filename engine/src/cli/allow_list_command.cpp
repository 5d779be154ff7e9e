// `matchlock allow-list add|delete ID HOSTS...`: changes a running sandbox's network
// allow-list over its control socket and prints the resulting list, one host per line.
#include <cstdio>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "cli/control_client.h"
#include "core/json.h"

namespace matchlock::cli {
namespace {

constexpr const char* kUsage =
    "Usage: matchlock allow-list add|delete ID HOST[,HOST...]...\n\n"
    "Add hosts to, or delete them from, a running sandbox's network allow-list and print the\n"
    "resulting list. The sandbox must have been started with --allow-host (interception).\n";

// Comma lists split, blanks trimmed, duplicates dropped, order kept.
std::vector<std::string> normalize_hosts(Args words) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& w : words) {
    std::stringstream ss(w);
    for (std::string h; std::getline(ss, h, ',');) {
      auto b = h.find_first_not_of(" \t");
      auto e = h.find_last_not_of(" \t");
      if (b == std::string::npos) continue;
      h = h.substr(b, e - b + 1);
      if (seen.insert(h).second) out.push_back(h);
    }
  }
  return out;
}

}  // namespace

int cmd_allow_list(Args args) {
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (args.size() < 3 || (args[0] != "add" && args[0] != "delete")) {
    return fail("usage: matchlock allow-list add|delete ID HOST...");
  }
  const bool add = args[0] == "add";
  const std::string& id = args[1];
  auto hosts = normalize_hosts(args.subspan(2));
  if (hosts.empty()) return fail("allow-list hosts are required");

  auto sock = connect_sandbox(id);
  if (!sock.ok()) return fail(sock.error().message, 1);
  rapidjson::Document params(rapidjson::kObjectType);
  params.AddMember("hosts", json::str_array(hosts, params.GetAllocator()), params.GetAllocator());
  auto reply = call_blocking(sock->get(), add ? "allow_list_add" : "allow_list_delete", params);
  if (!reply.ok()) return fail(reply.error().message, 1);
  const auto* result = json::member(*reply, "result");
  const auto* list = result ? json::member(*result, "allowed_hosts") : nullptr;
  if (list && list->IsArray()) {
    for (const auto& h : list->GetArray()) {
      if (h.IsString()) std::printf("%s\n", h.GetString());
    }
  }
  return 0;
}

}  // namespace matchlock::cli
