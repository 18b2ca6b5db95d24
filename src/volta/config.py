"""Settings: defaults, then a TOML file (--config), then VOLTA_* variables,
then command-line flags; each later source wins."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volta.ocpp.schemas import Validation
from volta.store.db import DEFAULT_URL


@dataclass
class Settings:
    host: str = "0.0.0.0"
    ocpp_port: int = 9000
    api_port: int = 8000
    database_url: str = DEFAULT_URL
    # Bearer token for the HTTP API; when empty one is generated at first start.
    api_token: str = ""
    heartbeat_interval: int = 300
    # Interval a Pending or Rejected station is told to wait before booting again.
    boot_retry_interval: int = 60
    # Unknown stations are refused (404) unless this is on; they are then
    # registered with `auto_register_status` (Accepted, Pending or Rejected).
    auto_register: bool = False
    auto_register_status: str = "Pending"
    # Subprotocol assumed when a charger offers none (some 1.6 firmwares).
    default_protocol: str = "ocpp1.6"
    # Seconds between server pings, and how long a pong may take.
    ping_interval: float = 30.0
    ping_timeout: float = 30.0
    # How long to wait for a station's answer to one of our CALLs.
    call_timeout: float = 30.0
    validation: Validation = Validation.STRICT
    compression: bool = True
    # The WebSocket stack of the OCPP port: "websockets" or "picows"
    # (docs/performance.md, "Transport", has the figures behind the default).
    transport: str = "picows"
    tls_cert: str = ""
    tls_key: str = ""
    # Dashboard sign-in: how long a session lasts, and whether its cookie is
    # sent over HTTPS only (set it when a TLS proxy fronts the API port).
    session_hours: float = 12.0
    session_cookie_secure: bool = False
    # The console's time zone for users who chose none (IANA name; pages and
    # charts both use it).
    console_time_zone: str = "UTC"
    log_level: str = "INFO"
    log_format: str = "auto"  # json, text, or auto (text on a terminal)
    # Tokens whose group is this id are master passes (2.0.1 C16,
    # AuthCtrlr.MasterPassGroupId): they may stop any transaction, never start one.
    master_pass_group_id: str = ""
    # A token already charging elsewhere is answered ConcurrentTx unless this is on.
    allow_concurrent_transactions: bool = False
    # Seconds between housekeeping runs: reservations expired, local lists
    # kept in step, remote starts that never started closed.
    housekeeping_interval: float = 5.0
    # How long an accepted remote start may wait for its transaction.
    remote_start_timeout: float = 600.0
    # State-of-charge thresholds (%) that raise soc.reached, comma-separated.
    soc_thresholds: str = "80,90"
    # Webhooks: first retry delay (doubling each time, at most an hour), how
    # many attempts before a delivery is failed, how long to wait for an answer.
    webhook_retry_base: float = 5.0
    webhook_max_attempts: int = 12
    webhook_timeout: float = 10.0
    # Plain-http webhook URLs beyond loopback (https is required otherwise).
    allow_http_webhooks: bool = False
    # Base of the start URL a QR code on a charger encodes
    # (<public_url>/start/<station>/<evse>); empty: http://<host>:<api_port>.
    public_url: str = ""
    # --- issue 12: webhooks ---
    # Webhooks reach loopback, private, link-local, metadata and other
    # internal addresses only when this is on (server-side request forgery).
    webhook_allow_private_targets: bool = False
    # Networks webhooks may reach even so (comma-separated CIDRs), e.g. a
    # receiver on the operator's own network: "10.20.0.0/16".
    webhook_allowed_networks: str = ""
    # Seals webhook signing secrets in the database (32+ characters, e.g.
    # `openssl rand -base64 32`); empty: the key file.
    secret_key: str = dataclasses.field(default="", repr=False)
    # The key file; empty: volta-secret.key beside the SQLite database (in the
    # working directory for PostgreSQL), created 0600 at first start.
    secret_key_file: str = ""
    # --- issue 12: store ---
    # Days to keep OCPP frames; events and finished webhook deliveries; meter
    # values (0: for ever). Meter values of an active session, and the energy
    # readings a CDR cites, are kept whatever their age (docs/configuration.md).
    retention_frames_days: float = 7.0
    retention_events_days: float = 30.0
    retention_meter_values_days: float = 90.0
    # Seconds between retention runs; rows per delete; seconds between deletes.
    retention_interval: float = 300.0
    retention_batch: int = 1000
    retention_pause: float = 0.05
    # Seconds between refreshes of the database size and row counts (/metrics).
    db_stats_interval: float = 300.0
    # --- issue 12: edge (HTTP API and dashboard) ---
    # Largest request body the API port reads (bytes); larger: 413 before reading.
    max_body_bytes: int = 1_048_576
    # Dashboard sign-in per source address: failures allowed per window (s),
    # then 429 until the window has passed; password hashes at once per source.
    sign_in_failures: int = 10
    sign_in_window: float = 300.0
    sign_in_concurrent: int = 1
    # --- issue 12: gateway ---
    # Station passwords (OCPP port): after this many failed sign-ins within
    # the window from one source address, or for one station id, further
    # attempts get 429 without a password check, for 1 s doubling up to
    # auth_block_max; the tables keep at most auth_table_size keys each.
    auth_failures_per_address: int = 30
    auth_failures_per_station: int = 5
    auth_failure_window: float = 60.0
    auth_block_max: float = 300.0
    auth_table_size: int = 20_000
    # Addresses (or networks) of proxies whose X-Forwarded-For names the client.
    trusted_proxies: str = ""
    # Auto-registration: new stations a minute (all addresses / one address;
    # 0: no limit), and how many may wait in a Pending or Rejected
    # auto_register_status before new ones are refused (0: no cap).
    auto_register_per_minute: float = 60.0
    auto_register_per_address_per_minute: float = 10.0
    auto_register_max_pending: int = 1000
    # --- issue 18: several nodes (docs/scale-out.md) ---
    # PostgreSQL connections for reads, and as many again at a peak; each node
    # also holds one per group-commit lane (2), the leader's lock and the
    # station locks' connection (several nodes): keep nodes x (2 x this + 4)
    # under the server's max_connections.
    database_pool_size: int = 10
    # The NATS server (with JetStream) the nodes share, e.g.
    # nats://127.0.0.1:4222; empty: Volta is one process, as on SQLite.
    nats_url: str = ""
    # This node's name in the deployment (at most 40 characters); empty:
    # <hostname>-<pid>-<random>, new at every start.
    node_id: str = ""
    # A node that has not renewed its lease for this long (s) is dead: its
    # stations are offline, its commands in flight answered `offline`.
    node_lease: float = 6.0
    # Seconds between a node's heartbeats (NATS) and lease renewals (database).
    node_heartbeat: float = 1.0
    # Graceful shutdown (drain): stations closed with 1012 per batch, and the
    # pause between batches (s), so that they reconnect to the other nodes.
    drain_batch: int = 500
    drain_pause: float = 0.2
    # `volta serve --workers N`: N processes on one host sharing the OCPP and
    # API ports (SO_REUSEPORT), each a node; needs nats_url and PostgreSQL.
    workers: int = 1
    # --- TLS and security profiles (docs/security.md) ---
    # A second server certificate and key, ECDSA beside the RSA one of
    # tls_cert / tls_key (OpenSSL picks by the suites the client offers).
    tls_cert_ecdsa: str = ""
    tls_key_ecdsa: str = ""
    # Security profile 3: the CAs that issue stations' client certificates
    # (a PEM file or an OpenSSL hashed directory); empty: no client
    # certificates are asked for (profiles 1 and 2 only).
    tls_client_ca: str = ""
    # Revoked station certificates: CRL PEM file(s), comma-separated; each
    # CA in tls_client_ca then needs a CRL (OpenSSL checks the leaf's).
    tls_client_crl: str = ""
    # When set, a station certificate's subject O (organizationName) must be
    # this, the operator's name (1.6 whitepaper §2.4, 2.0.1 A00.FR.4xx).
    tls_client_organization: str = ""
    # Seconds between checks of the certificate, key, CA and CRL files'
    # modification times; a change is loaded for new handshakes (0: never).
    tls_reload_interval: float = 30.0
    # Beside a TLS ocpp_port: a plain port for security profile 1 stations
    # (-1: none, 0: any free port).
    ocpp_plain_port: int = -1
    # --- station passwords and the security event log ---
    # Rotate every station's HTTP Basic password after this many days
    # (SetVariables SecurityCtrlr.BasicAuthPassword / ChangeConfiguration
    # AuthorizationKey; the leader's housekeeping); 0: only when asked.
    password_rotation_days: float = 0.0
    # At most this many scheduled rotations are started per housekeeping run.
    password_rotation_batch: int = 20
    # Volta's own security events from the OCPP port (failed sign-ins,
    # connections below a station's profile, refused certificates) written to
    # the security event log, at most this many a minute per node (the rest
    # are only logged).
    security_events_per_minute: float = 30.0
    # Days the security event log is kept (pruned like the frames); 0: for ever.
    retention_security_events_days: float = 365.0
    # --- certificates and the certificate authority ---
    # Who signs stations' CSRs (SignCertificate): "builtin" (Volta's own CA,
    # its keys sealed in the database) or "est" (an external CA over RFC 7030
    # EST simpleenroll, e.g. EJBCA or step-ca; V2G CSRs still go to the built-in
    # V2G chain unless ca_est_v2g_url is set).
    ca_backend: str = "builtin"
    # The organisation (O=) a station's CSR must name and certificates carry.
    ca_organization: str = "Volta"
    # Validity of issued ChargingStationCertificates and V2GCertificates (days;
    # ISO 15118-2 keeps SECC certificates short-lived).
    certificate_validity_days: int = 365
    v2g_certificate_validity_days: int = 60
    # Housekeeping asks a station for a new CSR this many days before its
    # certificate expires (TriggerMessage / ExtendedTriggerMessage); 0: never.
    certificate_renew_days: int = 30
    # EST: the base URL (https://host/.well-known/est[/label]), HTTP Basic
    # credentials, the CA bundle that verifies the EST server, an optional
    # client certificate and key (TLS client authentication), and the URL for
    # V2G CSRs (empty: the built-in V2G chain signs them).
    ca_est_url: str = ""
    ca_est_username: str = ""
    ca_est_password: str = ""
    ca_est_ca_file: str = ""
    ca_est_client_cert: str = ""
    ca_est_client_key: str = ""
    ca_est_v2g_url: str = ""
    # --- Plug & Charge ---
    # V2G and MO root certificates that contract certificate chains must end
    # in (central validation, C07.FR.06): a PEM file or a directory of them.
    pnc_trust_roots: str = ""
    # OCSP responders are named by stations and EVs: public addresses only,
    # unless these networks (comma-separated CIDRs) or all private ones are allowed.
    pnc_allowed_networks: str = ""
    pnc_allow_private_responders: bool = False
    # Seconds an OCSP request may take (connect + answer).
    pnc_ocsp_timeout: float = 5.0
    # OCSP answers kept until their nextUpdate, at most this many (0: none).
    pnc_ocsp_cache_size: int = 10_000
    # Contract certificate provider for Get15118EVCertificate (M01/M02): an
    # HTTP endpoint the EXI request is forwarded to; empty: none (Failed).
    pnc_provider_url: str = ""
    pnc_provider_timeout: float = 10.0
    # --- Device management: files (docs/device-management.md, "Files") ---
    # Where stored files live on local disk (empty: "volta-files" beside the
    # SQLite database, else in the working directory).
    files_dir: str = ""
    # The base URL stations download from and upload to (http(s)://host:port
    # of the API port as stations reach it); empty: this host's name and the
    # API port over plain HTTP.
    files_public_url: str = ""
    # How long a per-request download or upload URL stays valid (seconds).
    files_link_seconds: int = 3600
    # The largest file accepted: a firmware image uploaded through the API or
    # the dashboard, a diagnostics or log file a station uploads (bytes).
    files_max_upload_bytes: int = 512 * 1024 * 1024
    # Days diagnostics and log files are kept (0: for ever); firmware images
    # are kept until deleted.
    retention_files_days: float = 90.0
    # The FTP endpoint for chargers that upload only over FTP (0: off); one
    # login per upload request, expiring with its link.
    files_ftp_port: int = 0
    # --- Device management: firmware ---
    # An update with no final status (Installed or a failure) this many
    # seconds after the station's last word fails (its campaign may retry).
    firmware_update_timeout: int = 7200
    # A campaign finishes without the stations offline at their turn once
    # they stayed away this many seconds (until then they are tried when back).
    firmware_offline_wait: int = 86400
    # --- Device management: device model ---
    # Per station, the most 2.0.1 attributes and 1.6 configuration keys kept:
    # a station reporting more has the rest left out (logged).
    device_model_max_attributes: int = 20_000
    # --- Device management: monitoring ---
    # NotifyEvent data (docs/device-management.md, "Monitoring") kept this
    # many days (0: for ever), and at most this many per station (0: no bound);
    # housekeeping prunes both.
    monitoring_events_days: float = 30.0
    monitoring_events_per_station: int = 10_000
    # --- Device management: display messages, customer information ---
    # When a transaction starts on a 2.0.1 station whose tariff has a
    # display text, send that text as a display message bound to the
    # transaction (O02).
    display_tariff_at_start: bool = False
    # --- Device management: charger profiles, availability ---
    # The operator's charger profiles (TOML, docs/device-management.md,
    # "Charger profiles"), matched before the shipped ones; empty: none.
    charger_profiles_file: str = ""
    # --- OCPP 2.1: transaction limits ---
    # Send a session's limits to 2.1 stations in TransactionEventResponse
    # (E16), and when they change mid-session ask for a TransactionEvent at
    # once (TriggerMessage) to answer it with the new limit. Once a station
    # reports holding a limit, the station enforces it and Volta no longer
    # stops the session for it. False: Volta enforces them as for 2.0.1.
    limits_in_station: bool = True

    # --- OCPP 2.1: tariffs and cost in the station ---
    # Give a 2.1 station the driver's tariff (TariffType) in the
    # AuthorizeResponse, and in a ChangeTransactionTariff when a remotely
    # started transaction runs under another tariff (I08, docs/ocpp21.md).
    v21_driver_tariff: bool = True
    # The station's own cost (costDetails) may differ from Volta's total by
    # this many minor units (cents) before the CDR is flagged
    # station_cost_differs (docs/tariffs.md).
    v21_cost_tolerance_units: int = 1

    # --- OCPP 2.1: payment, priority charging, battery swap, event streams ---
    # VatNumberValidation (docs/ocpp21.md, "payment"): "format" accepts a VAT
    # number whose format fits its country (EU member states, GB, CH, NO);
    # "list" accepts only the numbers the operator entered (/api/v1/vat-numbers).
    # Any other value counts as "list". Either way Volta asks no outside service.
    vat_validation: str = "format"
    # Periodic event streams a station may have open at once (more are Rejected).
    event_streams_per_station: int = 8
    # NotifyPeriodicEventStream messages kept per stream (oldest dropped first)
    # and for how long (days).
    event_stream_max_messages: int = 5000
    event_stream_retention_days: int = 7

    # --- OCPP 2.1: V2X ---
    # Bidirectional modes (e.g. "AC_BPT,DC_BPT") every token's contract
    # allows when the token has no V2X permission of its own (docs/ocpp21.md,
    # "Bidirectional power (V2X)"); empty: only the tokens given one may
    # discharge.
    v2x_default_modes: str = ""

    # --- OCPP 2.1: DER control ---
    # A 2.1 station's DER alarms, its controls' starts and stops, and the
    # GetDERControl reports kept at most this many each per station (the
    # oldest go first; 0: no bound).
    der_history_per_station: int = 1000

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_cert_ecdsa)


_BOOL_TRUE = {"1", "true", "yes", "on"}


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).strip().lower() in _BOOL_TRUE
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "Validation":
        return Validation(str(value))
    return str(value)


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(Settings)}
    if config_file:
        data = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        section = data.get("volta", data)
        unknown = set(section) - names
        if unknown:
            raise ValueError(f"{config_file}: unknown settings {', '.join(sorted(unknown))}")
        values.update(section)
    for name in names:
        env = os.environ.get("VOLTA_" + name.upper())
        if env is not None and env != "":
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**{k: _coerce(k, v) for k, v in values.items()})
