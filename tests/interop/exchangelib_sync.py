#!/usr/bin/python3
"""Syncs a contacts folder of exsync-sim with exchangelib, a third-party EWS client.

Usage: exchangelib_sync.py SIM_DIR MAILBOX [sent|events|view START END|series]
With "sent", prints {"sent_subject": ..., "body": ..., ...} for each message in the mailbox's Sent
Items (exchangelib's default query), then {"only_subject": ...} for each (a query of the subject);
with "events", {"event_subject": ..., "start": ...} for each item in its calendar; with "view",
one line per item of the calendar view from START to END (RFC 3339); with "series", each series
master, its exceptions read by id, and its occurrences read by their place in the pattern.
Reads SIM_DIR/exsync.toml (written by exsync-sim) for the endpoints and the service account,
signs in with ROPC, impersonates MAILBOX and prints one JSON line per synced contact:
{"change": "create", "ews_id": ..., "change_key": ..., "display_name": ..., "emails": [...]}
and a last line {"sync_state": ...}. Exit status 0 on success.
"""
import json
import sys

from exchangelib import EWSDateTime
from sim_exchangelib import account as impersonated, configuration

sim_dir, mailbox = sys.argv[1], sys.argv[2]
account = impersonated(configuration(sim_dir), mailbox)
if len(sys.argv) > 3 and sys.argv[3] == "sent":
    # The default query (FindItem, then GetItem of every field), as a client would read Sent Items.
    for message in account.sent.all():
        print(json.dumps({"sent_subject": message.subject, "body": str(message.body or ""),
                          "to": [r.email_address for r in (message.to_recipients or [])],
                          "sender": message.sender.email_address if message.sender else None,
                          "attachments": [a.name for a in (message.attachments or [])],
                          "is_draft": message.is_draft}))
    for message in account.sent.all().only("subject"):
        print(json.dumps({"only_subject": message.subject}))
    sys.exit(0)
if len(sys.argv) > 5 and sys.argv[3] == "view":
    # What is on the calendar between two instants: series expanded by the server.
    start, end = (EWSDateTime.from_string(a) for a in sys.argv[4:6])
    for event in account.calendar.view(start=start, end=end):
        print(json.dumps({"view_subject": event.subject, "type": event.type,
                          "start": event.start.isoformat() if hasattr(event.start, "hour") else str(event.start),
                          "original_start": event.original_start.isoformat() if event.original_start else None}))
    sys.exit(0)
if len(sys.argv) > 3 and sys.argv[3] == "series":
    # Each series master, its exceptions by their own ids, each occurrence by its place in the
    # pattern (OccurrenceItemId), and the master again from an occurrence (RecurringMasterItemId).
    for master in (i for i in account.calendar.all() if i.type == "RecurringMaster"):
        print(json.dumps({"master": master.subject, "id": master.id,
                          "first": master.first_occurrence.start.isoformat() if master.first_occurrence else None,
                          "modified": [o.original_start.isoformat() for o in (master.modified_occurrences or [])],
                          "deleted": [d.start.isoformat() for d in (master.deleted_occurrences or [])]}))
        for info in master.modified_occurrences or []:
            own = account.calendar.get(id=info.id)
            print(json.dumps({"exception": own.subject, "type": own.type, "start": own.start.isoformat(),
                              "of": master.id}))
        for index in range(1, 9):
            occurrence = master.occurrence(index=index)
            try:
                occurrence.refresh()
            except Exception as e:  # noqa: BLE001: the server's refusal is what is printed
                print(json.dumps({"index": index, "of": master.id, "error": type(e).__name__}))
                continue
            print(json.dumps({"index": index, "of": master.id, "type": occurrence.type,
                              "start": occurrence.start.isoformat(), "subject": occurrence.subject}))
            if index == 1:
                again = occurrence.recurring_master()
                again.refresh()
                print(json.dumps({"master_of_occurrence": again.id, "of": master.id}))
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
