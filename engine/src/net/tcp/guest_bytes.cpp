#include "lwip/pbuf.h"
#include "net/tcp/guest_stream.h"

namespace matchlock::net {

void GuestBytes::PbufFree::operator()(struct pbuf* p) const {
  pbuf_free(p);
}

GuestBytes GuestBytes::from_pbuf(struct pbuf* p) {
  GuestBytes b;
  b.credit_ = p->tot_len;
  b.chain_.reset(p);
  return b;
}

GuestBytes::~GuestBytes() = default;

size_t GuestBytes::size() const {
  return chain_ ? chain_->tot_len : bytes_.size();
}

std::string GuestBytes::take_string() {
  if (chain_) {
    std::string data(chain_->tot_len, '\0');
    pbuf_copy_partial(chain_.get(), data.data(), chain_->tot_len, 0);
    chain_.reset();
    return data;
  }
  return std::move(bytes_);
}

std::vector<uv_buf_t> GuestBytes::buffers() {
  std::vector<uv_buf_t> bufs;
  if (!chain_) {
    if (!bytes_.empty()) bufs.push_back(uv_buf_init(bytes_.data(), bytes_.size()));
    return bufs;
  }
  for (struct pbuf* q = chain_.get(); q; q = q->next)
    if (q->len) bufs.push_back(uv_buf_init(static_cast<char*>(q->payload), q->len));
  return bufs;
}

}  // namespace matchlock::net
