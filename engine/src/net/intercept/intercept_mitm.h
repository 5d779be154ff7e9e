// Interception mode's MitmServices: built by InterceptPolicy when the sandbox has a CA. Owns
// the leaf cache, both TLS contexts and the PipelineExchangePolicy over the sandbox pipeline.
#pragma once

#include <functional>
#include <memory>

#include "core/result.h"
#include "net/intercept/pipeline_exchange_policy.h"
#include "net/proxy/mitm_services.h"
#include "net/tls/certificate_authority.h"
#include "net/tls/leaf_cache.h"
#include "net/tls/openssl_handles.h"

namespace matchlock::net {

class PolicyHook;

class InterceptMitm final : public proxy::MitmServices {
 public:
  using DnsNameFor = std::function<std::string(uint32_t ip, const std::string& host)>;
  // `hook` and `pipeline` must outlive the result.
  static Result<std::unique_ptr<InterceptMitm>> create(
      std::shared_ptr<const tls::CertificateAuthority> ca, const policy::Pipeline& pipeline,
      PolicyHook& hook, DnsNameFor dns_name_for);

  SSL_CTX& guest_facing_context() override { return *guest_facing_; }
  SSL_CTX& upstream_context() override { return *upstream_; }
  proxy::ExchangePolicy& exchange_policy() override { return policy_; }
  bool may_dial(uint32_t ip, const std::string& host) override;
  bool may_connect(uint32_t ip, uint16_t port, const std::string& sni) override;
  std::string dns_name_for(uint32_t ip, const std::string& host) override {
    return dns_name_for_(ip, host);
  }
  uint64_t next_exchange_id() override { return ++last_exchange_id_; }

 private:
  InterceptMitm(const policy::Pipeline& pipeline, PolicyHook& hook)
      : pipeline_(pipeline), policy_(pipeline), hook_(hook) {}

  tls::SslCtxPtr guest_facing_;
  tls::SslCtxPtr upstream_;
  const policy::Pipeline& pipeline_;
  PipelineExchangePolicy policy_;
  PolicyHook& hook_;
  DnsNameFor dns_name_for_;
  uint64_t last_exchange_id_ = 0;
};

}  // namespace matchlock::net
