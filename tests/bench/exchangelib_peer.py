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
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from sim_exchangelib import account, configuration  # noqa: E402

sim_dir, count, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
config = configuration(sim_dir, max_connections=threads)


def sync(n):
    items = 0
    for change_type, _ in account(config, f"agent{n}@contoso.onmicrosoft.com").contacts.sync_items():
        if change_type in ("create", "update"):
            items += 1
    return items


start, cpu = time.time(), time.process_time()
with ThreadPoolExecutor(max_workers=threads) as pool:
    total = sum(pool.map(sync, range(1, count + 1)))
print(json.dumps({"items": total, "seconds": round(time.time() - start, 2),
                  "cpu_seconds": round(time.process_time() - cpu, 2)}))
