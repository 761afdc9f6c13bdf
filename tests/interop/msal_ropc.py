#!/usr/bin/python3
"""Signs in to exsync-sim's Entra endpoint with MSAL Python, Microsoft's own auth library.

Usage: msal_ropc.py SIM_DIR
Reads SIM_DIR/exsync.toml (written by exsync-sim) and, as a public client of the tenant:
ROPC with the service account's password, ROPC with a wrong one, then a silent refresh of the
first sign-in's token from MSAL's cache (its refresh token, force_refresh). Prints one JSON line
per step: {"step": ..., "ok": bool, and what the step got}. Exit status 0 when every step ran.

MSAL asks the tenant's OpenID configuration, then the user realm at https://{host}/common/userrealm/
{user}: Entra's host and port 443, the port MSAL assumes for it. The session given to MSAL sends a
request for the simulator's host without a port to the simulator's port; nothing else is changed.
"""
import json
import os
import sys
import tomllib
import urllib.parse

sim_dir = sys.argv[1]
with open(os.path.join(sim_dir, "exsync.toml"), "rb") as f:
    cfg = tomllib.load(f)
os.environ["REQUESTS_CA_BUNDLE"] = os.path.join(sim_dir, cfg["tls"]["ca_file"])
with open(os.path.join(sim_dir, cfg["service_account"]["password_file"])) as f:
    password = f.read().strip()

import msal  # noqa: E402
import requests  # noqa: E402

sim = urllib.parse.urlsplit(cfg["tenant"]["authority"])


class SimulatorSession(requests.Session):
    """Requests for the simulator's host without a port go to its port."""

    def request(self, method, url, *args, **kwargs):
        parts = urllib.parse.urlsplit(url)
        if parts.hostname == sim.hostname and parts.port is None:
            url = urllib.parse.urlunsplit(parts._replace(netloc=sim.netloc))
        return super().request(method, url, *args, **kwargs)


authority = cfg["tenant"]["authority"] + "/" + cfg["tenant"]["tenant_id"]
app = msal.PublicClientApplication(cfg["tenant"]["client_id"], authority=authority, validate_authority=False,
                                   http_client=SimulatorSession())
scopes = ["https://outlook.office365.com/EWS.AccessAsUser.All"]
user = cfg["service_account"]["username"]


def report(step, result):
    ok = bool(result) and "access_token" in result
    line = {"step": step, "ok": ok}
    if result and not ok:
        line.update({"error": result.get("error"), "error_codes": result.get("error_codes"),
                     "description": (result.get("error_description") or "").split("\r\n")[0]})
    if ok:
        line.update({"token_type": result.get("token_type"), "scope": result.get("scope"),
                     "source": result.get("token_source"), "has_refresh_token": "refresh_token" in result,
                     "token": result["access_token"][-16:]})
    print(json.dumps(line))


report("ropc", app.acquire_token_by_username_password(user, password, scopes=scopes))
accounts = app.get_accounts(username=user)
print(json.dumps({"step": "accounts", "ok": len(accounts) == 1, "usernames": [a["username"] for a in accounts]}))
report("wrong_password", app.acquire_token_by_username_password(user, password + "-wrong", scopes=scopes))
report("silent_cached", app.acquire_token_silent(scopes, account=accounts[0]) if accounts else None)
report("silent_refresh", app.acquire_token_silent(scopes, account=accounts[0], force_refresh=True) if accounts else None)
