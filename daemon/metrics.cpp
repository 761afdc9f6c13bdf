#include "metrics.hpp"

#include <cstdio>

namespace exsync::daemon {

std::string metrics_text(const Runtime& rt, const sync::Scheduler& scheduler) {
  std::string out;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  auto sample = [&](std::string_view name, std::string_view labels, double value) {
    out += name;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.15g\n", value);
    out += buf;
  };
  const auto census = rt.schedule->census();
  metric("exsync_mailboxes", "gauge", "Configured mailboxes by scheduling state.");
  sample("exsync_mailboxes", "state=\"backing_off\"", static_cast<double>(census.backing_off));
  sample("exsync_mailboxes", "state=\"due\"", static_cast<double>(census.due));
  sample("exsync_mailboxes", "state=\"syncing\"", static_cast<double>(census.syncing));
  sample("exsync_mailboxes", "state=\"waiting\"", static_cast<double>(census.waiting));
  const auto statuses = rt.schedule->statuses();  // per mailbox, below

  const auto& t = scheduler.totals();
  metric("exsync_mailbox_syncs_total", "counter", "Mailbox syncs since start, by result.");
  sample("exsync_mailbox_syncs_total", "result=\"success\"", static_cast<double>(t.succeeded));
  sample("exsync_mailbox_syncs_total", "result=\"failure\"", static_cast<double>(t.failed));
  metric("exsync_items_synced_total", "counter", "Items changed in the store from Exchange since start.");
  sample("exsync_items_synced_total", "change=\"created\"", static_cast<double>(t.created));
  sample("exsync_items_synced_total", "change=\"updated\"", static_cast<double>(t.updated));
  sample("exsync_items_synced_total", "change=\"deleted\"", static_cast<double>(t.deleted));
  metric("exsync_writes_total", "counter", "CRM changes written to Exchange since start.");
  sample("exsync_writes_total", "", static_cast<double>(t.written));

  const auto& g = rt.governor->stats();
  metric("exsync_requests_total", "counter", "Requests to Exchange since start, by outcome.");
  sample("exsync_requests_total", "outcome=\"success\"", static_cast<double>(g.successes));
  sample("exsync_requests_total", "outcome=\"throttled\"", static_cast<double>(g.throttled));
  sample("exsync_requests_total", "outcome=\"connection_lost\"", static_cast<double>(g.connection_lost));
  sample("exsync_requests_total", "outcome=\"error\"", static_cast<double>(g.other_errors));
  metric("exsync_request_limit", "gauge", "Requests allowed in flight at once; below the maximum while Exchange throttles.");
  sample("exsync_request_limit", "", rt.governor->limit());
  metric("exsync_endpoint_pauses_total", "counter", "Times Exchange asked every request to wait (HTTP 503/429).");
  sample("exsync_endpoint_pauses_total", "", static_cast<double>(g.pauses));
  metric("exsync_token_requests_total", "counter", "Requests to the Entra token endpoint since start.");
  sample("exsync_token_requests_total", "", rt.tokens->token_requests());
  metric("exsync_token_failures_total", "counter",
         "Sign-ins Entra ID refused or that failed, by AADSTS code (or kind: network, server) since start.");
  for (const auto& [code, n] : rt.tokens->token_failures())
    sample("exsync_token_failures_total", "code=\"" + code + "\"", static_cast<double>(n));
  metric("exsync_token_failing", "gauge", "1 while the last sign-in to Entra ID failed (no new token), else 0.");
  sample("exsync_token_failing", "", rt.tokens->failing() ? 1 : 0);
  metric("exsync_sync_interval_seconds", "gauge",
         "The configured intervals: poll (interval_seconds) and safety (safety_interval_seconds, for mailboxes whose "
         "changes are pushed).");
  sample("exsync_sync_interval_seconds", "kind=\"poll\"", static_cast<double>(rt.cfg.sync.interval.count()));
  sample("exsync_sync_interval_seconds", "kind=\"safety\"", static_cast<double>(rt.cfg.sync.safety_interval.count()));
  metric("exsync_push_enabled", "gauge",
         "1 when changes are meant to be pushed (EWS streaming or Graph change notifications), else 0.");
  sample("exsync_push_enabled", "", rt.streaming || rt.notifications ? 1 : 0);

  metric("exsync_mailbox_last_success_timestamp_seconds", "gauge",
         "When each mailbox last synced without error (mailboxes that have since start).");
  for (const auto& s : statuses) {
    if (s.last_success == Clock::time_point{}) continue;
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(s.last_success.time_since_epoch()).count();
    sample("exsync_mailbox_last_success_timestamp_seconds", "mailbox=\"" + s.mailbox + "\"", static_cast<double>(secs));
  }
  metric("exsync_mailbox_consecutive_failures", "gauge", "Failed syncs in a row, for mailboxes failing now.");
  for (const auto& s : statuses) {
    if (s.failures > 0) sample("exsync_mailbox_consecutive_failures", "mailbox=\"" + s.mailbox + "\"", s.failures);
  }
  metric("exsync_mailboxes_changes", "gauge",
         "Configured mailboxes by how their changes are found: pushed (streaming notifications) or polling.");
  const auto pushed = static_cast<double>(rt.schedule->pushed());
  sample("exsync_mailboxes_changes", rt.notifications ? "mode=\"notifications\"" : "mode=\"streaming\"", pushed);
  sample("exsync_mailboxes_changes", "mode=\"polling\"", static_cast<double>(rt.schedule->size()) - pushed);
  if (rt.streaming) {
    const auto& st = rt.streaming->stats();
    metric("exsync_stream_notifications_total", "counter", "Streaming notifications that made a mailbox due.");
    sample("exsync_stream_notifications_total", "", static_cast<double>(st.notifications));
    metric("exsync_stream_connections_total", "counter", "GetStreamingEvents connections opened.");
    sample("exsync_stream_connections_total", "", static_cast<double>(st.connections));
    metric("exsync_stream_subscriptions_total", "counter", "Streaming subscriptions, by outcome.");
    sample("exsync_stream_subscriptions_total", "outcome=\"created\"", static_cast<double>(st.subscribed));
    sample("exsync_stream_subscriptions_total", "outcome=\"refused\"", static_cast<double>(st.subscribe_failed));
    sample("exsync_stream_subscriptions_total", "outcome=\"lost\"", static_cast<double>(st.renewed));
  }
  if (rt.notifications) {
    const auto& st = rt.notifications->stats();
    metric("exsync_graph_notifications_total", "counter",
           "Graph change and lifecycle notifications received, by outcome (refused: unknown subscription or clientState).");
    sample("exsync_graph_notifications_total", "outcome=\"change\"", static_cast<double>(st.notifications));
    sample("exsync_graph_notifications_total", "outcome=\"lifecycle\"", static_cast<double>(st.lifecycle));
    sample("exsync_graph_notifications_total", "outcome=\"refused\"", static_cast<double>(st.refused));
    metric("exsync_graph_subscriptions_total", "counter", "Graph subscription requests and losses, by outcome.");
    sample("exsync_graph_subscriptions_total", "outcome=\"created\"", static_cast<double>(st.created));
    sample("exsync_graph_subscriptions_total", "outcome=\"adopted\"", static_cast<double>(st.adopted));
    sample("exsync_graph_subscriptions_total", "outcome=\"renewed\"", static_cast<double>(st.renewed));
    sample("exsync_graph_subscriptions_total", "outcome=\"failed\"", static_cast<double>(st.failed));
    sample("exsync_graph_subscriptions_total", "outcome=\"lost\"", static_cast<double>(st.lost));
    sample("exsync_graph_subscriptions_total", "outcome=\"deleted\"", static_cast<double>(st.deleted));
  }
  if (rt.webhooks) out += rt.webhooks->metrics();
  return out;
}

}  // namespace exsync::daemon
