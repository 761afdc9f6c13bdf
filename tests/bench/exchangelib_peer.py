#!/usr/bin/python3
"""The benchmarks' peer: exchangelib (Debian's python3-exchangelib) syncing the same mailboxes'
contacts folders from the same simulator as exsyncd, with no storage at all.

Usage: exchangelib_peer.py SIM_DIR MAILBOX_COUNT THREADS
Signs in as exsyncd does (ROPC against the simulator's Entra endpoint), impersonates
agent1..agentN@contoso.onmicrosoft.com, THREADS at a time, and for each runs exchangelib's own
two-way-sync primitive, Folder.sync_items(): SyncFolderItems pages, each item read with GetItem.
Prints one JSON line: {"items": ..., "seconds": ..., "cpu_seconds": ...} (the client's CPU).
"""
import json
import os
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor

sim_dir, count, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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
                       version=Version(build=Build(15, 1)), max_connections=threads)


def sync(n):
    account = Account(primary_smtp_address=f"agent{n}@contoso.onmicrosoft.com", config=config,
                      autodiscover=False, access_type=IMPERSONATION)
    items = 0
    for change_type, item in account.contacts.sync_items():
        if change_type in ("create", "update"):
            items += 1
    return items


start, cpu = time.time(), time.process_time()
with ThreadPoolExecutor(max_workers=threads) as pool:
    total = sum(pool.map(sync, range(1, count + 1)))
print(json.dumps({"items": total, "seconds": round(time.time() - start, 2),
                  "cpu_seconds": round(time.process_time() - cpu, 2)}))
