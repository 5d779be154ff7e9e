// Builders for sniffer tests: well-formed ClientHellos written field by field.
#pragma once

#include <cstdint>
#include <string>

namespace matchlock::net::test {

inline void put_u8(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v & 0xff));
}
inline void put_u16(std::string& out, uint32_t v) {
  put_u8(out, v >> 8);
  put_u8(out, v);
}
inline void put_u24(std::string& out, uint32_t v) {
  put_u8(out, v >> 16);
  put_u16(out, v);
}

// The ClientHello handshake message (type + length + body). `sni` empty: no server_name.
// `padding` adds an extension of that many zero bytes after server_name.
inline std::string client_hello_message(const std::string& sni, size_t padding = 0) {
  std::string body;
  put_u16(body, 0x0303);
  body.append(32, '\x11');  // random
  put_u8(body, 32);
  body.append(32, '\x22');  // session id
  put_u16(body, 4);
  put_u16(body, 0x1301);
  put_u16(body, 0x1302);
  put_u8(body, 1);
  put_u8(body, 0);  // null compression
  std::string extensions;
  put_u16(extensions, 0x002b);  // supported_versions
  put_u16(extensions, 3);
  put_u8(extensions, 2);
  put_u16(extensions, 0x0304);
  if (!sni.empty()) {
    std::string list;
    put_u8(list, 0);
    put_u16(list, static_cast<uint32_t>(sni.size()));
    list += sni;
    put_u16(extensions, 0x0000);
    put_u16(extensions, static_cast<uint32_t>(list.size() + 2));
    put_u16(extensions, static_cast<uint32_t>(list.size()));
    extensions += list;
  }
  if (padding > 0) {
    put_u16(extensions, 0x0015);
    put_u16(extensions, static_cast<uint32_t>(padding));
    extensions.append(padding, '\0');
  }
  put_u16(body, static_cast<uint32_t>(extensions.size()));
  body += extensions;
  std::string message;
  put_u8(message, 0x01);
  put_u24(message, static_cast<uint32_t>(body.size()));
  return message + body;
}

// Wraps a handshake message in TLS records of at most `fragment` payload bytes each.
inline std::string tls_records(const std::string& handshake, size_t fragment = 16384) {
  std::string out;
  for (size_t pos = 0; pos < handshake.size(); pos += fragment) {
    std::string piece = handshake.substr(pos, fragment);
    put_u8(out, 0x16);
    put_u16(out, 0x0301);
    put_u16(out, static_cast<uint32_t>(piece.size()));
    out += piece;
  }
  return out;
}

inline std::string client_hello(const std::string& sni, size_t padding = 0) {
  return tls_records(client_hello_message(sni, padding));
}

}  // namespace matchlock::net::test
