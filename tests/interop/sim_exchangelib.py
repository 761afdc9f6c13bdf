"""exchangelib pointed at exsync-sim: the configuration exsync-sim writes (SIM_DIR/exsync.toml)
read into an exchangelib Configuration that signs in with ROPC against the simulator's Entra
endpoint, and impersonated accounts of it. Shared by the interop tests and the benchmarks' peer.
"""
import os
import tomllib


def configuration(sim_dir, max_connections=None):
    """The exchangelib Configuration for the simulator in `sim_dir` (trusting its CA)."""
    with open(os.path.join(sim_dir, "exsync.toml"), "rb") as f:
        cfg = tomllib.load(f)
    os.environ["REQUESTS_CA_BUNDLE"] = os.path.join(sim_dir, cfg["tls"]["ca_file"])
    with open(os.path.join(sim_dir, cfg["service_account"]["password_file"])) as f:
        password = f.read().strip()

    from exchangelib import OAUTH2, Build, Configuration, Version
    from exchangelib.credentials import OAuth2LegacyCredentials

    authority = cfg["tenant"]["authority"]

    class SimulatorCredentials(OAuth2LegacyCredentials):
        """ROPC against the simulator's token URL instead of login.microsoftonline.com."""

        @property
        def token_url(self):
            return f"{authority}/{self.tenant_id}/oauth2/v2.0/token"

    creds = SimulatorCredentials(username=cfg["service_account"]["username"], password=password,
                                 client_id=cfg["tenant"]["client_id"], client_secret=None,
                                 tenant_id=cfg["tenant"]["tenant_id"])
    extra = {"max_connections": max_connections} if max_connections else {}
    return Configuration(credentials=creds, auth_type=OAUTH2, service_endpoint=cfg["ews"]["url"],
                         version=Version(build=Build(15, 1)), **extra)


def account(config, mailbox):
    """`mailbox` impersonated through `config`, without autodiscover."""
    from exchangelib import IMPERSONATION, Account
    return Account(primary_smtp_address=mailbox, config=config, autodiscover=False,
                   access_type=IMPERSONATION)
