#include "ews_endpoint.hpp"

#include <variant>

#include "codec.hpp"
#include "ews_operations.hpp"
#include "exsync/core/mailbox_address.hpp"
#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/requests.hpp"
#include "exsync/ews/xml.hpp"

namespace exsync::sim {
namespace {

using ews::child;
using ews::child_text;
using ews::is_element;
using ews::kMessagesNs;
using ews::kSoapNs;
using ews::kTypesNs;
using ews::local_name;
using ews::xml_escape;

// The mailbox a request without impersonation names: a DistinguishedFolderId's Mailbox, or the
// mailbox inside its item ids; empty when it names none (the caller's own).
std::string named_mailbox(const pugi::xml_node& op, Tenant& tenant) {
  std::string found;
  op.find_node([&](const pugi::xml_node& n) {
    if (is_element(n, kTypesNs, "DistinguishedFolderId")) {
      if (auto m = child(n, kTypesNs, "Mailbox")) found = normalize_mailbox_address(child_text(m, kTypesNs, "EmailAddress"));
    } else if (is_element(n, kTypesNs, "ItemId")) {
      // "AAMkAD" + base64("exsim:" + tag + ":...")
      std::string_view id = n.attribute("Id").value();
      if (id.size() > 6) {
        const auto decoded = base64_decode(id.substr(6)).value_or("");
        if (decoded.rfind("exsim:", 0) == 0) {
          const auto tag = std::string_view(decoded).substr(6, decoded.find(':', 6) - 6);
          if (const Mailbox* mb = tenant.mailbox_by_tag(tag)) found = mb->address;
        }
      }
    }
    return !found.empty();
  });
  return found;
}


// What gromox writes after some answers, as a second answer to the same CreateItem: one
// NoError message and no items.
http::Response stale_create_item_response() {
  return operation_response("CreateItem", success_open("CreateItem") + "<m:Items/></m:CreateItemResponseMessage>");
}


// Whether a request sends mail and saves its copy (the requests send_refused_saved refuses).
bool sends_and_saves(const pugi::xml_node& op) {
  return local_name(op) == "CreateItem" && std::string_view(op.attribute("MessageDisposition").value()) == "SendAndSaveCopy" &&
         child(child(op, kMessagesNs, "Items"), kTypesNs, "Message");
}


}  // namespace


http::Response EwsEndpoint::unauthorized(bool bearer) {
  ++stats_.unauthorized;
  // Exchange Online's challenge; see ews-captures/ews/http401_exo_bearer_*_ASSEMBLED.http.
  std::string challenge =
      R"(Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 service_asserted_app_v1", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize")";
  http::Response r{401, {}, ""};
  if (bearer) {
    challenge += R"(, error="invalid_token")";
    r.headers.push_back({"x-ms-diagnostics",
                         R"(2000001;reason="The token has expired or is not valid.";error_category="invalid_token")"});
  }
  r.headers.push_back({"WWW-Authenticate", challenge + R"(,Basic Realm="")"});
  return r;
}

std::optional<http::Response> EwsEndpoint::early_answer(const http::Request& head) {
  if (head.method != "POST" || !tenant_.ews_fault || tenant_.ews_fault->kind != "early_answer") return std::nullopt;
  if (!tenant_.take_ews_fault({}, {}, [](const Tenant::EwsFault& f) { return f.kind == "early_answer"; }))
    return std::nullopt;
  ++stats_.faults["early_answer"];
  return fault("ErrorInternalServerError", "An internal server error occurred. The operation failed.");
}

http::Answer EwsEndpoint::handle(const http::Request& req, BudgetTicket& ticket) {
  mangle_.reset();
  refused_send_ = false;
  pending_chunks_ = nullptr;
  http::Answer out{answer(req, ticket), {}, false};
  out.chunks = std::move(pending_chunks_);
  pending_chunks_ = nullptr;
  if (!mangle_) return out;
  auto& resp = out.response;
  const auto& kind = mangle_->kind;
  if (kind == "reset_before") {
    resp.headers.push_back({kDisruptHeader, "close"});
  } else if (kind == "reset_mid") {
    // Into the body (or, for a small one, the headers): the answer stops mid-way.
    resp.headers.push_back({kDisruptHeader, "cut:" + std::to_string(40 + resp.body.size() / 2)});
  } else if (kind == "truncated") {
    resp.body.resize(resp.body.size() / 2);
  } else if (kind == "slow") {
    resp.headers.push_back({kDelayHeader, std::to_string(mangle_->delay_ms)});
  } else if (kind == "answer_twice") {
    out.stale.push_back(mangle_->operation == "CreateItem" ? stale_create_item_response() : resp);
  } else if (kind == "late") {
    out.late = true;
  } else if (kind == "send_refused_saved" && refused_send_) {
    out.stale.push_back(stale_create_item_response());
  }
  return out;
}

namespace {

// Who the request reaches: the mailbox, and whether as a delegate (no impersonation header).
struct Addressed {
  Mailbox* mb = nullptr;
  std::string target;
  bool delegate = false;
};

// Addressing, as Exchange decides it: by ExchangeImpersonation, or as a delegate naming the
// mailbox in the request; the refusals each way.
std::variant<Addressed, http::Response> address(Tenant& tenant, const pugi::xml_node& header, const pugi::xml_node& op,
                                                bool bearer, const std::string& token) {
  Addressed a;
  auto sid = child(child(header, kTypesNs, "ExchangeImpersonation"), kTypesNs, "ConnectingSID");
  if (sid) {
    a.target = child_text(sid, kTypesNs, "PrimarySmtpAddress");
    if (a.target.empty()) a.target = child_text(sid, kTypesNs, "SmtpAddress");
    a.target = normalize_mailbox_address(a.target);
    if (!tenant.impersonation_allowed)
      return fault("ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user.");
  } else {
    // Without impersonation the caller acts as itself: an app-only token cannot, and the service
    // account reaches another mailbox as a delegate, naming it in the request.
    if (bearer && tenant.access_token_is_app(token))
      return fault("ErrorInvalidExchangeImpersonationHeaderData",
                   "ExchangeImpersonation SOAP header must be present for this type of OAuth token.");
    a.target = named_mailbox(op, tenant);
    if (a.target.empty()) {
      // The service account's own mailbox, which the simulated tenant does not have.
      return fault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.",
                   "<t:Value Name=\"SmtpAddress\">" + xml_escape(tenant.service_account()) + "</t:Value>");
    }
    a.delegate = true;
  }
  a.mb = tenant.mailbox(a.target);
  if (!a.mb)
    return fault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.",
                 "<t:Value Name=\"SmtpAddress\">" + xml_escape(a.target) + "</t:Value>");
  if (!a.delegate && tenant.impersonation_denied.contains(a.target))
    return fault("ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user.");
  return a;
}

}  // namespace

// The gate every request passes, in Exchange's order: method, authentication, the schema, the
// SOAP shape, addressing, the delegate's access, injected faults and the budget. Then the
// operation's handler (ews_operations.cpp) answers.
http::Response EwsEndpoint::answer(const http::Request& req, BudgetTicket& ticket) {
  if (req.method != "POST") return {405, {{"Allow", "POST"}}, ""};
  if (tenant_.ews_blocked) return {403, {{"Content-Type", "text/plain"}}, "Forbidden\n"};

  std::string_view auth = req.header("Authorization");
  const bool bearer = auth.size() > 7 && auth.substr(0, 7) == "Bearer ";
  // Exchange Server with Basic authentication on its EWS virtual directory.
  const bool basic_ok = tenant_.basic_auth && auth.size() > 6 && auth.substr(0, 6) == "Basic " &&
                        base64_decode(auth.substr(6)) == tenant_.service_account() + ":" + tenant_.password();
  if (!basic_ok && (!bearer || !tenant_.access_token_valid(std::string(auth.substr(7))))) return unauthorized(bearer);

  if (validator_) {
    if (auto violation = validator_->validate(req.body); !violation.empty()) {
      ++stats_.schema_violations;
      stats_.last_schema_violation = violation;
      return fault("ErrorSchemaValidation", "The request failed schema validation: " + violation);
    }
  }

  pugi::xml_document doc;
  std::string problem;
  if (!ews::parse_document(doc, req.body, problem))
    return fault("ErrorSchemaValidation", "The request failed schema validation: " + problem);
  auto env = doc.document_element();
  auto header = child(env, kSoapNs, "Header");
  auto op = child(env, kSoapNs, "Body").find_child([](const pugi::xml_node& n) { return n.type() == pugi::node_element; });
  if (!is_element(env, kSoapNs, "Envelope") || !op)
    return fault("ErrorSchemaValidation", "The request failed schema validation: not a SOAP request.");

  auto addressed = address(tenant_, header, op, bearer, std::string(bearer ? auth.substr(7) : std::string_view()));
  if (auto* refusal = std::get_if<http::Response>(&addressed)) return std::move(*refusal);
  const auto& [mb, target, delegate] = std::get<Addressed>(addressed);
  ++(delegate ? stats_.delegated : stats_.impersonated);
  const std::string name(local_name(op));
  ++stats_.operations[name];
  if (delegate && (!tenant_.full_access || tenant_.full_access_denied.contains(target)))
    return operation_response(name, error_message(name, "ErrorAccessDenied",
                                                  "Access is denied. Check credentials and try again., Can't "
                                                  "look up the requested Entry ID."));

  if (auto injected = inject_fault(target, name, op, bearer)) return std::move(*injected);
  // Impersonation charges the impersonated mailbox's budget; a delegate's requests all charge
  // the service account's own.
  if (auto refused = budget_.admit(delegate ? tenant_.service_account() : target, tenant_.service_account(),
                                   name.rfind("Sync", 0) == 0, ticket)) {
    ++stats_.throttled;
    return fault(refused->code, refused->text,
                 refused->backoff_ms > 0 ? "<t:Value Name=\"BackOffMilliseconds\">" + std::to_string(refused->backoff_ms) +
                                               "</t:Value>"
                                         : std::string());
  }

  if (name == "Subscribe") return streaming_.subscribe(req, op, *mb);
  if (name == "GetStreamingEvents") {
    // A hanging connection is charged to whom it is sent as: the anchor, or the service account.
    auto stream = streaming_.get_streaming_events(req, op, delegate ? tenant_.service_account() : target);
    pending_chunks_ = std::move(stream.chunks);
    return std::move(stream.head);
  }
  const auto* operation = ews_operation(name, op);
  if (!operation)
    return fault("ErrorInvalidRequest", "The request is valid but does not specify the correct server version, or "
                                        "the operation " + name + " is not supported by this simulator.");
  EwsCall call{tenant_, stats_, op, name, *mb, delegate, mangle_ && mangle_->kind == "send_refused_saved"};
  auto resp = (*operation)(call);
  refused_send_ = call.refused_send;
  return resp;
}

// A fault injected for this request (PUT /sim/faults/ews): its own answer, or none, the real
// answer then spoiled afterwards (mangle_) for the kinds that need the request carried out.
std::optional<http::Response> EwsEndpoint::inject_fault(const std::string& target, const std::string& name,
                                                        const pugi::xml_node& op, bool bearer) {
  const auto applies = [&](const Tenant::EwsFault& f) {
    if (f.kind == "early_answer") return false;  // met by the head alone, before the body is read
    if (f.kind == "send_refused_saved") return sends_and_saves(op);
    return true;
  };
  auto fault_copy = tenant_.take_ews_fault(target, name, applies);
  if (!fault_copy) return std::nullopt;
  const auto& kind = fault_copy->kind;
  ++stats_.faults[kind];
  if (kind == "http500")
    return http::Response{500, {{"Content-Type", "text/html"}}, "<html><body><h1>500 - Internal server error.</h1></body></html>"};
  if (kind == "http502")
    return http::Response{502, {{"Content-Type", "text/html"}}, "<html><head><title>502 Bad Gateway</title></head></html>"};
  if (kind == "token_revoked") {
    tenant_.revoke_tokens();
    return unauthorized(bearer);
  }
  if (kind == "invalid_sync_state")
    return operation_response(name, error_message(name, "ErrorInvalidSyncStateData",
                                                  "Synchronization state data is corrupt or otherwise invalid."));
  if (kind == "foreign_xml")
    return http::Response{200, {{"Content-Type", "text/xml; charset=utf-8"}},
                          "<?xml version=\"1.0\"?><html><head><title>Sign in to your account</title></head><body/></html>"};
  if (kind == "server_busy" || kind == "http503" || kind == "http429") {
    ++stats_.throttled;
    if (kind != "server_busy") {
      const int seconds = std::max(1, (fault_copy->backoff_ms + 999) / 1000);
      return http::Response{kind == "http503" ? 503 : 429, {{"Retry-After", std::to_string(seconds)}}, ""};
    }
    // Exchange Online's answer to a budget overrun, as a fault with the suggested back-off.
    return fault("ErrorServerBusy", "The server cannot service this request right now. Try again later.",
                 "<t:Value Name=\"BackOffMilliseconds\">" + std::to_string(fault_copy->backoff_ms) + "</t:Value>");
  }
  // reset_before, reset_mid, truncated, slow, answer_twice, late, send_refused_saved: the real
  // answer (the request carried out), spoiled.
  mangle_ = fault_copy;
  mangle_->operation = name;
  return std::nullopt;
}

}  // namespace exsync::sim
