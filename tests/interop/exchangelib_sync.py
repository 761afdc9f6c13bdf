#!/usr/bin/python3
"""Syncs a contacts folder of exsync-sim with exchangelib, a third-party EWS client.

Usage: exchangelib_sync.py SIM_DIR MAILBOX [sent|events]
With "sent", prints {"sent_subject": ...} for each message in the mailbox's Sent Items instead;
with "events", {"event_subject": ..., "start": ...} for each item in its calendar.
Reads SIM_DIR/exsync.toml (written by exsync-sim) for the endpoints and the service account,
signs in with ROPC, impersonates MAILBOX and prints one JSON line per synced contact:
{"change": "create", "ews_id": ..., "change_key": ..., "display_name": ..., "emails": [...]}
and a last line {"sync_state": ...}. Exit status 0 on success.
"""
import json
import os
import sys
import tomllib

sim_dir, mailbox = sys.argv[1], sys.argv[2]
with open(os.path.join(sim_dir, "exsync.toml"), "rb") as f:
    cfg = tomllib.load(f)
os.environ["REQUESTS_CA_BUNDLE"] = os.path.join(sim_dir, cfg["tls"]["ca_file"])
with open(os.path.join(sim_dir, cfg["service_account"]["password_file"])) as f:
    password = f.read().strip()

from exchangelib import IMPERSONATION, OAUTH2, Account, Build, Configuration, Version  # noqa: E402
from exchangelib.credentials import OAuth2LegacyCredentials  # noqa: E402

authority = cfg["tenant"]["authority"]


class SimulatorCredentials(OAuth2LegacyCredentials):
    """ROPC against the simulator's token URL instead of login.microsoftonline.com."""

    @property
    def token_url(self):
        return f"{authority}/{self.tenant_id}/oauth2/v2.0/token"


creds = SimulatorCredentials(username=cfg["service_account"]["username"], password=password,
                             client_id=cfg["tenant"]["client_id"], client_secret=None,
                             tenant_id=cfg["tenant"]["tenant_id"])
config = Configuration(credentials=creds, auth_type=OAUTH2, service_endpoint=cfg["ews"]["url"],
                       version=Version(build=Build(15, 1)))
account = Account(primary_smtp_address=mailbox, config=config, autodiscover=False,
                  access_type=IMPERSONATION)
if len(sys.argv) > 3 and sys.argv[3] == "sent":
    for message in account.sent.all().only("subject"):
        print(json.dumps({"sent_subject": message.subject}))
    sys.exit(0)
if len(sys.argv) > 3 and sys.argv[3] == "events":
    for event in account.calendar.all().only("subject", "start"):
        print(json.dumps({"event_subject": event.subject, "start": event.start.isoformat()}))
    sys.exit(0)

for change, item in account.contacts.sync_items():
    if change in ("create", "update"):
        print(json.dumps({"change": change, "ews_id": item.id, "change_key": item.changekey,
                          "display_name": item.display_name,
                          "emails": [e.email for e in (item.email_addresses or [])]}))
    elif change == "delete":
        print(json.dumps({"change": change, "ews_id": item.id}))
print(json.dumps({"sync_state": account.contacts.item_sync_state}))
