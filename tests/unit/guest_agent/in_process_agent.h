// The agent's port-stream and file-stream code running on a thread over one end of a
// socketpair, so host-side tests reach real guest-side relaying without a VM. It does what
// Agent::run does for port and file streams (route PORT_OPEN / FILE_* and stream frames to
// their sessions, poll their fds); exec streams and the handshake are not served.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "channel.h"
#include "core/unique_fd.h"
#include "file_session.h"
#include "port_session.h"

namespace matchlock::testing {

class InProcessAgent {
 public:
  explicit InProcessAgent(UniqueFd channel_fd)
      : channel_(guest_agent::Channel::adopt(make_nonblocking(std::move(channel_fd)))) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0) {
      wake_read_.reset(p[0]);
      wake_write_.reset(p[1]);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~InProcessAgent() {
    char stop = 1;
    ssize_t ignored = ::write(wake_write_.get(), &stop, 1);
    (void)ignored;
    thread_.join();
  }
  InProcessAgent(const InProcessAgent&) = delete;
  InProcessAgent& operator=(const InProcessAgent&) = delete;

 private:
  static constexpr size_t kOutgoingHighWater = 4 << 20;  // as in agent.cpp

  static UniqueFd make_nonblocking(UniqueFd fd) {
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
    return fd;
  }

  void run() {
    std::vector<pollfd> fds;
    std::vector<uint32_t> streams;
    while (channel_.connected()) {
      fds.assign({{channel_.fd(), channel_.poll_events(), 0}, {wake_read_.get(), POLLIN, 0}});
      streams.assign({0, 0});
      const bool port_has_room = channel_.queued_bytes() < kOutgoingHighWater;
      for (const auto& [stream, port] : ports_) {
        if (auto request = port->poll_request(port_has_room)) {
          fds.push_back(*request);
          streams.push_back(stream);
        }
      }
      const size_t first_file = fds.size();
      for (const auto& [stream, file] : files_) {
        if (auto request = file->poll_request(port_has_room)) {
          fds.push_back(*request);
          streams.push_back(stream);
        }
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[1].revents) return;
      if (fds[0].revents) {
        bool still_connected = channel_.on_ready(fds[0].revents);
        while (auto frame = channel_.next_frame()) on_frame(*frame);
        if (!still_connected) return;
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        if (i >= first_file) {
          auto it = files_.find(streams[i]);
          if (it != files_.end()) it->second->on_poll_ready(fds[i].revents);
          continue;
        }
        auto it = ports_.find(streams[i]);
        if (it != ports_.end()) it->second->on_poll_ready(fds[i].revents);
      }
      std::erase_if(ports_, [](const auto& entry) { return entry.second->finished(); });
      std::erase_if(files_, [](const auto& entry) { return entry.second->finished(); });
    }
  }

  void on_frame(const guest_protocol::Frame& frame) {
    if (frame.type == guest_protocol::FrameType::kPortOpen) {
      if (ports_.count(frame.stream) == 0) {
        ports_.emplace(frame.stream, std::make_unique<guest_agent::PortSession>(
                                         frame.stream, frame.payload, channel_));
      }
      return;
    }
    if (frame.type == guest_protocol::FrameType::kFileRead ||
        frame.type == guest_protocol::FrameType::kFileWrite ||
        frame.type == guest_protocol::FrameType::kFileList) {
      auto session = std::make_unique<guest_agent::FileSession>(frame, channel_);
      if (!session->finished()) files_.emplace(frame.stream, std::move(session));
      return;
    }
    if (auto it = ports_.find(frame.stream); it != ports_.end()) it->second->on_frame(frame);
    if (auto it = files_.find(frame.stream); it != files_.end()) it->second->on_frame(frame);
  }

  guest_agent::Channel channel_;
  UniqueFd wake_read_, wake_write_;
  std::map<uint32_t, std::unique_ptr<guest_agent::PortSession>> ports_;
  std::map<uint32_t, std::unique_ptr<guest_agent::FileSession>> files_;
  std::thread thread_;
};

}  // namespace matchlock::testing
