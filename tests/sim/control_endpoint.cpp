#include "control_endpoint.hpp"

#include <boost/json.hpp>
#include <set>

#include "exsync/core/mailbox_address.hpp"
#include "codec.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/model/event_json.hpp"

namespace exsync::sim {
namespace json = boost::json;
namespace {

http::Response json_response(int status, const json::value& v) {
  return {status, {{"Content-Type", "application/json"}}, json::serialize(v)};
}

http::Response problem(int status, std::string text) {
  return json_response(status, json::object{{"error", std::move(text)}});
}

std::vector<std::string> split_path(std::string_view target) {
  auto q = target.find('?');
  if (q != std::string_view::npos) target = target.substr(0, q);
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start <= target.size()) {
    auto slash = target.find('/', start);
    if (slash == std::string_view::npos) slash = target.size();
    if (slash > start) parts.push_back(percent_decode(target.substr(start, slash - start)));
    start = slash + 1;
  }
  return parts;
}

json::object ref_json(const SimContact& sc) { return {{"ews_id", sc.id}, {"change_key", sc.change_key()}}; }

}  // namespace

namespace {

json::object streaming_stats(const EwsStreaming& st) {
  const auto& s = st.stats();
  auto n = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  return json::object{{"subscribes", n(s.subscribes)},
                      {"subscriptions", n(st.subscriptions())},
                      {"connections", n(s.connections)},
                      {"open_connections", n(s.open_connections)},
                      {"notifications", n(s.notifications)},
                      {"heartbeats", n(s.heartbeats)},
                      {"refused_connections", n(s.refused_connections)},
                      {"refused_subscriptions", n(s.refused_subscriptions)},
                      {"expired", n(s.expired)},
                      {"without_affinity", n(s.without_affinity)}};
}

}  // namespace

http::Response ControlEndpoint::handle(const http::Request& req) {
  const auto p = split_path(req.url);  // p[0] == "sim"
  const std::string& m = req.method;
  json::error_code ec;
  const json::value body = req.body.empty() ? json::value() : json::parse(req.body, ec);
  if (ec) return problem(400, "body is not JSON: " + ec.message());

  if (p.size() == 2 && p[1] == "stats") {
    if (m != "GET") return problem(405, "GET only");
    json::object ops;
    for (const auto& [k, v] : ews_.stats().operations) ops[k] = v;
    json::object faults;
    for (const auto& [k, v] : ews_.stats().faults) faults[k] = v;
    json::object refused;
    for (const auto& [k, v] : ews_.budget().stats().refused) refused[k] = v;
    json::object graph_ops;
    if (graph_)
      for (const auto& [k, v] : graph_->stats().operations) graph_ops[k] = v;
    json::object grants;
    for (const auto& [k, v] : entra_.grants()) grants[k] = v;
    return json_response(200, json::object{{"operations", ops},
                                           {"token_grants", grants},
                                           {"graph_operations", graph_ops},
                                           {"graph_throttled", graph_ ? graph_->stats().throttled : 0},
                                           {"graph_requests", graph_ ? static_cast<std::int64_t>(graph_->stats().requests) : 0},
                                           {"graph_without_immutable_ids", graph_ ? graph_->stats().without_immutable_ids : 0},
                                           {"token_requests", entra_.requests()},
                                           {"unauthorized", ews_.stats().unauthorized},
                                           {"invitations_sent", ews_.stats().invitations_sent},
                                           {"throttled", ews_.stats().throttled},
                                           {"refused_sends", ews_.stats().refused_sends},
                                           {"faults", faults},
                                           {"tls_faults", tenant_.tls_faults_injected},
                                           {"contacts_created", tenant_.contacts_created},
                                           {"impersonated", ews_.stats().impersonated},
                                           {"delegated", ews_.stats().delegated},
                                           {"requests", ews_.stats().requests},
                                           {"bytes_sent", ews_.stats().bytes_sent},
                                           {"budget_refused", refused},
                                           {"max_in_flight", ews_.budget().stats().max_in_flight},
                                           {"streaming", streaming_stats(ews_.streaming())},
                                           {"schema_violations", ews_.stats().schema_violations},
                                           {"last_schema_violation", ews_.stats().last_schema_violation}});
  }
  if (p.size() == 3 && p[1] == "stats" && p[2] == "reset" && m == "POST") {
    ews_.stats() = {};
    ews_.budget().stats() = {};
    ews_.streaming().reset_stats();
    if (graph_) graph_->stats() = {};
    return {204, {}, ""};
  }
  if (p.size() >= 2 && p[1] == "streaming") {
    auto& st = ews_.streaming();
    if (p.size() == 3 && p[2] == "expire" && m == "POST") {
      st.expire();
      return {204, {}, ""};
    }
    if (p.size() == 3 && p[2] == "drop" && m == "POST") {
      st.drop();
      return {204, {}, ""};
    }
    if (p.size() == 2 && m == "PUT" && body.is_object()) {
      const auto& o = body.as_object();
      auto ms = [&](const char* key, std::chrono::milliseconds& into) {
        if (auto* v = o.if_contains(key)) into = std::chrono::milliseconds(v->to_number<std::int64_t>());
      };
      auto& policy = st.policy();
      ms("heartbeat_ms", policy.heartbeat);
      ms("minute_ms", policy.minute);
      ms("lifetime_ms", policy.lifetime);
      ms("tick_ms", policy.tick);
      if (auto* v = o.if_contains("max_per_mailbox")) policy.max_per_mailbox = static_cast<int>(v->to_number<std::int64_t>());
      if (auto* v = o.if_contains("connections_per_account"))
        policy.connections_per_account = static_cast<int>(v->to_number<std::int64_t>());
      return {204, {}, ""};
    }
    return problem(400, "PUT /sim/streaming {heartbeat_ms, minute_ms, lifetime_ms, tick_ms, max_per_mailbox, "
                        "connections_per_account}, POST /sim/streaming/expire, POST /sim/streaming/drop");
  }
  if (p.size() == 2 && p[1] == "budget") {
    // PUT {"policy": "connections=27,sync=5,rate=150,burst=300,latency_ms=20"}; "" lifts it.
    if (m != "PUT" || !body.is_object() || !body.as_object().contains("policy") || !body.at("policy").is_string())
      return problem(400, "PUT {\"policy\": \"connections=N,sync=N,sync_backoff_ms=N,rate=R,burst=B,rate_scope=account|mailbox,latency_ms=N\"}");
    std::string problem_text;
    auto policy = parse_budget_policy(std::string(body.at("policy").as_string()), problem_text);
    if (!policy) return problem(400, problem_text);
    ews_.budget().set_policy(*policy);
    return {204, {}, ""};
  }
  if (p.size() >= 2 && p[1] == "impersonation") {
    if (p.size() == 2 && m == "PUT" && body.is_object() && body.as_object().contains("allowed")) {
      tenant_.impersonation_allowed = body.at("allowed").as_bool();
      return {204, {}, ""};
    }
    if (p.size() == 4 && p[2] == "denied") {
      if (m == "PUT") tenant_.impersonation_denied.insert(normalize_mailbox_address(p[3]));
      else if (m == "DELETE") tenant_.impersonation_denied.erase(normalize_mailbox_address(p[3]));
      else return problem(405, "PUT or DELETE");
      return {204, {}, ""};
    }
    return problem(400, "PUT {\"allowed\": bool} or PUT|DELETE /sim/impersonation/denied/{addr}");
  }
  if (p.size() == 2 && p[1] == "tenant" && m == "PUT" && body.is_object()) {
    // {"ews_blocked": bool, "token_scope": "...", ...}: how the tenant is set up.
    if (auto* v = body.as_object().if_contains("ews_blocked"); v && v->is_bool()) tenant_.ews_blocked = v->as_bool();
    if (auto* v = body.as_object().if_contains("token_scope"); v && v->is_string())
      tenant_.token_scope = std::string(v->as_string());
    if (auto* v = body.as_object().if_contains("basic_auth"); v && v->is_bool()) tenant_.basic_auth = v->as_bool();
    if (auto* v = body.as_object().if_contains("app_role"); v && v->is_string())
      tenant_.app_role = std::string(v->as_string());
    // Delegate access: {"full_access": bool, "send_as": bool}.
    if (auto* v = body.as_object().if_contains("full_access"); v && v->is_bool()) tenant_.full_access = v->as_bool();
    if (auto* v = body.as_object().if_contains("send_as"); v && v->is_bool()) tenant_.send_as = v->as_bool();
    // App-only with a certificate: {"certificate_registered": false} as if it were removed.
    if (auto* v = body.as_object().if_contains("certificate_registered"); v && v->is_bool())
      tenant_.certificate_registered = v->as_bool();
    // Servers other than Exchange: {"echo_request_id": false} (no client-request-id echo, no
    // request-id), {"per_entry_fields_only": true} (contact collections only entry by entry).
    if (auto* v = body.as_object().if_contains("echo_request_id"); v && v->is_bool())
      tenant_.echo_request_id = v->as_bool();
    if (auto* v = body.as_object().if_contains("per_entry_fields_only"); v && v->is_bool())
      tenant_.per_entry_fields_only = v->as_bool();
    // Microsoft Graph: {"graph_rbac_scope": [addresses] or null} (RBAC for Applications' scope of
    // the app), {"graph_app_roles": [permissions]} (the application permissions consented).
    if (auto* v = body.as_object().if_contains("graph_rbac_scope")) {
      if (v->is_null()) {
        tenant_.graph_rbac_scope.reset();
      } else if (v->is_array()) {
        tenant_.graph_rbac_scope.emplace();
        for (const auto& a : v->as_array())
          if (a.is_string()) tenant_.graph_rbac_scope->insert(normalize_mailbox_address(a.as_string()));
      }
    }
    if (auto* v = body.as_object().if_contains("graph_app_roles"); v && v->is_array()) {
      tenant_.graph_app_roles.clear();
      for (const auto& r : v->as_array())
        if (r.is_string()) tenant_.graph_app_roles.insert(std::string(r.as_string()));
    }
    return {204, {}, ""};
  }
  if (p.size() == 2 && p[1] == "password" && m == "PUT") {
    if (!body.is_object() || !body.as_object().contains("password")) return problem(400, "needs {\"password\"}");
    tenant_.set_password(std::string(body.at("password").as_string()));
    tenant_.revoke_tokens();
    return {204, {}, ""};
  }
  if (p.size() == 3 && p[1] == "faults" && p[2] == "graph") {
    // PUT {"throttle": N, "retry_after": seconds (0: no header)}: the next N Graph requests are
    // refused 429 (MailboxConcurrency); {"budget": R, "window_ms": W}: R requests per mailbox in
    // any W (0: none). DELETE lifts both.
    auto& t = tenant_.graph_throttle;
    if (m == "DELETE") {
      t = Tenant::GraphThrottle{};
      return {204, {}, ""};
    }
    if (m != "PUT" || !body.is_object())
      return problem(400, "PUT {\"throttle\": N, \"retry_after\": S, \"budget\": R, \"window_ms\": W}");
    const auto& o = body.as_object();
    if (auto* v = o.if_contains("throttle")) t.next = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("retry_after")) t.retry_after_s = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("budget")) t.budget = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("window_ms")) t.window = std::chrono::milliseconds(v->to_number<std::int64_t>());
    return {204, {}, ""};
  }
  if (p.size() == 3 && p[1] == "faults" && p[2] == "ews") {
    if (m == "DELETE") {
      tenant_.ews_fault.reset();
      return {204, {}, ""};
    }
    // The kinds of tests/sim/tenant.hpp.
    static const std::set<std::string> kEwsFaultKinds{
        "server_busy", "http503",      "http429",      "http500",      "http502",     "reset_before",
        "reset_mid",   "truncated",    "foreign_xml",  "invalid_sync_state", "token_revoked", "slow",
        "answer_twice", "late",        "early_answer", "send_refused_saved"};
    if (m != "PUT" || !body.is_object() || !body.as_object().contains("kind") || !body.at("kind").is_string())
      return problem(400, "PUT {\"kind\", \"count\" (-1: until DELETE), \"share\", \"mailbox\", \"operation\", "
                          "\"backoff_ms\", \"delay_ms\"}; see tests/sim/tenant.hpp for the kinds");
    Tenant::EwsFault f;
    f.kind = std::string(body.at("kind").as_string());
    if (!kEwsFaultKinds.contains(f.kind)) return problem(400, "unknown kind " + f.kind);
    const auto& o = body.as_object();
    if (auto* v = o.if_contains("backoff_ms")) f.backoff_ms = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("delay_ms")) f.delay_ms = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("count")) f.remaining = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = o.if_contains("share")) f.share = v->to_number<double>();
    if (auto* v = o.if_contains("mailbox")) f.mailbox = normalize_mailbox_address(v->as_string());
    if (auto* v = o.if_contains("operation")) f.operation = std::string(v->as_string());
    if (f.remaining == 0) return problem(400, "count must be positive, or -1 for until DELETE");
    if (f.kind == "early_answer" && (!f.mailbox.empty() || !f.operation.empty()))
      return problem(400, "early_answer meets requests before their body (which names mailbox and operation) "
                          "is read: it takes no mailbox or operation");
    tenant_.ews_fault = f;
    return {204, {}, ""};
  }
  if (p.size() == 3 && p[1] == "faults" && p[2] == "tls") {
    // PUT {"count": N, "resets": R}: the next N TLS handshakes are dropped; with R, the next R
    // EWS requests also lose their (established) connection, so that clients must connect anew.
    if (m != "PUT" || !body.is_object() || !body.as_object().contains("count"))
      return problem(400, "PUT {\"count\": N, \"resets\": R}");
    tenant_.tls_faults = static_cast<int>(body.at("count").to_number<std::int64_t>());
    if (auto* v = body.as_object().if_contains("resets")) {
      Tenant::EwsFault f;
      f.kind = "reset_before";
      f.remaining = static_cast<int>(v->to_number<std::int64_t>());
      if (f.remaining > 0) tenant_.ews_fault = f;
    }
    return {204, {}, ""};
  }
  if (p.size() == 3 && p[1] == "faults" && p[2] == "token") {
    if (m == "DELETE") {
      tenant_.token_fault.reset();
      return {204, {}, ""};
    }
    if (m != "PUT" || !body.is_object() || !body.as_object().contains("aadsts"))
      return problem(400, "PUT {\"aadsts\": code, \"count\": n}");
    Fault f;
    f.aadsts = static_cast<int>(body.at("aadsts").to_number<std::int64_t>());
    if (auto* c = body.as_object().if_contains("count")) {
      f.remaining = static_cast<int>(c->to_number<std::int64_t>());
      if (f.remaining < 1) return problem(400, "count must be 1 or more (omit it for a lasting fault)");
    }
    tenant_.token_fault = f;
    return {204, {}, ""};
  }
  if (p.size() >= 2 && p[1] == "mailboxes") {
    if (p.size() == 2) {
      if (m == "GET") {
        json::array a;
        for (const auto& addr : tenant_.mailbox_addresses()) a.emplace_back(addr);
        return json_response(200, a);
      }
      if (m == "POST" && body.is_object() && body.as_object().contains("address")) {
        const std::string addr = normalize_mailbox_address(body.at("address").as_string());
        if (auto why = mailbox_address_problem(addr)) return problem(400, "address " + *why);
        auto& mb = tenant_.add_mailbox(addr);
        if (auto* n = body.as_object().if_contains("contacts")) tenant_.populate(mb, static_cast<int>(n->to_number<std::int64_t>()));
        return {201, {}, ""};
      }
      return problem(400, "GET, or POST {\"address\", \"contacts\"}");
    }
    const std::string addr = normalize_mailbox_address(p[2]);
    Mailbox* mb = tenant_.mailbox(addr);
    if (!mb) return problem(404, "no mailbox " + addr);
    if (p.size() == 3 && m == "DELETE") {
      tenant_.remove_mailbox(addr);
      return {204, {}, ""};
    }
    if (p.size() == 5 && p[3] == "poison") {
      // PUT {"code": "ErrorCorruptData"}: GetItem answers the item with that error; DELETE heals it.
      if (m == "DELETE") {
        mb->poisoned.erase(p[4]);
        return {204, {}, ""};
      }
      if (m != "PUT" || !body.is_object() || !body.as_object().contains("code") || !body.at("code").is_string())
        return problem(400, "needs {\"code\": an EWS ResponseCode}");
      mb->poisoned[p[4]] = std::string(body.at("code").as_string());
      return {204, {}, ""};
    }
    if (p.size() == 4 && p[3] == "invalidate-sync-states" && m == "POST") {
      ++mb->epoch;
      return {204, {}, ""};
    }
    if (p.size() >= 4 && p[3] == "events") {
      if (p.size() == 4 && m == "GET") {
        std::string out;
        for (const auto& [id, ev] : mb->calendar.events) {
          if (ev.deleted) continue;
          out += model::event_to_json(event_as_model(ev), model::ItemIdentity{"", {ev.id, ev.change_key()}}) + "\n";
        }
        return {200, {{"Content-Type", "application/x-ndjson"}}, out};
      }
      if (p.size() == 5 && m == "PUT") {
        if (!body.is_object()) return problem(400, "needs {\"subject\", \"location\"}");
        auto str = [&](const char* k) {
          auto* v = body.as_object().if_contains(k);
          return v && v->is_string() ? std::string(v->as_string()) : std::string();
        };
        if (!tenant_.edit_event(*mb, p[4], str("subject"), str("location"))) return problem(404, "no event " + p[4]);
        return {204, {}, ""};
      }
      if (p.size() == 5 && m == "DELETE") {
        if (!tenant_.delete_event(*mb, p[4])) return problem(404, "no event " + p[4]);
        return {204, {}, ""};
      }
      // .../events/{id}/occurrences/{original start, RFC 3339}: Outlook's edit (PUT {"subject",
      // "location", "body", "start", "end"}, each optional) or cancellation (DELETE) of one
      // occurrence of a series.
      if (p.size() == 7 && p[5] == "occurrences") {
        auto original = parse_xs_datetime(p[6]);
        if (!original) return problem(400, "the occurrence is named by its original start (RFC 3339)");
        if (m == "DELETE") {
          if (!tenant_.cancel_occurrence(*mb, p[4], *original)) return problem(404, "no such occurrence of " + p[4]);
          return {204, {}, ""};
        }
        if (m != "PUT" || !body.is_object()) return problem(400, "PUT {\"subject\", \"location\", \"body\", \"start\", \"end\"}");
        SimEvent::Exception change;
        const auto& o = body.as_object();
        for (auto [key, field] : {std::pair{"subject", &change.subject}, std::pair{"location", &change.location},
                                  std::pair{"body", &change.body}})
          if (auto* v = o.if_contains(key); v && v->is_string()) *field = std::string(v->as_string());
        for (auto [key, field] : {std::pair{"start", &change.start}, std::pair{"end", &change.end}}) {
          if (auto* v = o.if_contains(key); v && v->is_string()) {
            auto t = parse_xs_datetime(v->as_string());
            if (!t) return problem(400, std::string(key) + " must be RFC 3339");
            *field = *t;
          }
        }
        if (!tenant_.edit_occurrence(*mb, p[4], *original, change)) return problem(404, "no such occurrence of " + p[4]);
        return {204, {}, ""};
      }
    }
    if (p.size() == 4 && p[3] == "sent" && m == "GET") {
      std::string out;
      for (const auto& msg : mb->sent_items) {
        json::array to, cc, bcc, atts;
        for (const auto& a : msg.to) to.emplace_back(a);
        for (const auto& a : msg.cc) cc.emplace_back(a);
        for (const auto& a : msg.bcc) bcc.emplace_back(a);
        for (const auto& a : msg.attachment_names) atts.emplace_back(a);
        json::object tags;
        for (const auto& [k, v] : msg.extended) tags[k] = v;
        out += json::serialize(json::object{{"ews_id", msg.id}, {"subject", msg.subject}, {"body", msg.body},
                                            {"html", msg.html}, {"to", to}, {"cc", cc}, {"bcc", bcc},
                                            {"attachments", atts}, {"extended", tags},
                                            {"delivered", msg.delivered}}) + "\n";
      }
      return {200, {{"Content-Type", "application/x-ndjson"}}, out};
    }
    if (p.size() >= 4 && p[3] == "contacts") {
      if (p.size() == 4 && m == "GET") {
        std::string out;
        for (const auto& [id, sc] : mb->contacts) {
          if (sc.deleted) continue;
          // In the order every reader puts a contact's keyed collections (by key), whatever
          // order the protocols list them in.
          auto contact = sc.contact;
          model::sort_by_key(contact);
          out += model::contact_to_json(contact, model::ItemIdentity{"", {sc.id, sc.change_key()}});
          out += '\n';
        }
        return {200, {{"Content-Type", "application/x-ndjson"}}, out};
      }
      if (p.size() == 4 && m == "POST") {
        auto c = model::contact_from_json(req.body);
        if (!c) return problem(400, "contact " + c.error());
        return json_response(201, ref_json(tenant_.create_contact(*mb, std::move(*c))));
      }
      if (p.size() == 5 && m == "PUT") {
        auto c = model::contact_from_json(req.body);
        if (!c) return problem(400, "contact " + c.error());
        const SimContact* sc = tenant_.update_contact(*mb, p[4], std::move(*c));
        if (!sc) return problem(404, "no contact " + p[4]);
        return json_response(200, ref_json(*sc));
      }
      if (p.size() == 5 && m == "PATCH") {
        // A merge patch of some fields, applied at once: an Outlook user changing one field while
        // a client writes others (PUT would overwrite what it wrote in between).
        auto it = mb->contacts.find(p[4]);
        if (it == mb->contacts.end() || it->second.deleted) return problem(404, "no contact " + p[4]);
        if (!body.is_object()) return problem(400, "needs an object of contact fields");
        auto merged = json::parse(model::contact_to_json(it->second.contact)).as_object();
        for (const auto& member : body.as_object()) {
          if (member.value().is_null()) merged.erase(member.key());
          else merged[member.key()] = member.value();
        }
        auto c = model::contact_from_json(json::serialize(merged));
        if (!c) return problem(400, "contact " + c.error());
        return json_response(200, ref_json(*tenant_.update_contact(*mb, p[4], std::move(*c))));
      }
      if (p.size() == 5 && m == "DELETE") {
        if (!tenant_.delete_contact(*mb, p[4])) return problem(404, "no contact " + p[4]);
        return {204, {}, ""};
      }
    }
  }
  return problem(404, "no such control route: " + m + " " + req.url);
}

}  // namespace exsync::sim
