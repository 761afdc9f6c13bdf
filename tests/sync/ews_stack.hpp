// The daemon's real remote side against a running simulator: HTTPS client, Entra token source
// and EWS adapter, as exsyncd wires them.
#pragma once

#include "exsync/auth/entra_token_source.hpp"
#include "exsync/ews/ews_service.hpp"
#include "test_support.hpp"

namespace exsync::test {

struct EwsStack {
  EwsStack(Simulator& sim, boost::asio::io_context& io, int get_item_batch_size = 16,
           ews::Addressing addressing = ews::Addressing::impersonation)
      : client(std::move(*http::Client::create(io.get_executor(), sim.client_options()))),
        tokens(std::make_unique<auth::EntraTokenSource>(io.get_executor(), *client, SystemClock::instance(),
                                                        sim.ropc_settings())),
        ews(std::make_unique<ews::EwsService>(*client, *tokens,
                                              ews::EwsSettings{sim.base_url() + "/EWS/Exchange.asmx", get_item_batch_size,
                                                               addressing})) {}

  std::unique_ptr<http::Client> client;
  std::unique_ptr<auth::EntraTokenSource> tokens;
  std::unique_ptr<ews::EwsService> ews;
};

}  // namespace exsync::test
