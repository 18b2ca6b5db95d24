"""Database tables. Names follow the specification's vocabulary."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class Station(Base):
    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    # What BootNotification answers: Accepted, Pending or Rejected.
    registration_status: Mapped[str] = mapped_column(sa.String(16), default="Accepted")
    # strict / relaxed / off: payload validation for this station's messages.
    validation: Mapped[str] = mapped_column(sa.String(16), default="strict")
    protocol: Mapped[str | None] = mapped_column(sa.String(16))
    vendor: Mapped[str | None] = mapped_column(sa.String(50))
    model: Mapped[str | None] = mapped_column(sa.String(50))
    serial_number: Mapped[str | None] = mapped_column(sa.String(50))
    firmware_version: Mapped[str | None] = mapped_column(sa.String(50))
    iccid: Mapped[str | None] = mapped_column(sa.String(20))
    imsi: Mapped[str | None] = mapped_column(sa.String(20))
    meter_type: Mapped[str | None] = mapped_column(sa.String(25))
    meter_serial_number: Mapped[str | None] = mapped_column(sa.String(25))
    boot_reason: Mapped[str | None] = mapped_column(sa.String(40))
    last_boot_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_connected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_disconnected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The site or circuit the station hangs from (smart charging); no
    # foreign key so that SQLite can add the column in place.
    site_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    # The connection that holds the station now, "<node id>/<serial>", null
    # when none does: its node answers for it (volta.cluster), and only that
    # connection's close records the station offline.
    connection_id: Mapped[str | None] = mapped_column(sa.String(64))
    # The OCPP security profile (1, 2 or 3) the station connects with, never
    # lowered by a connection (blocks/security/profiles.py); null: not known
    # yet (set by its first connection).
    security_profile: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # The charger profile its last boot matched (blocks/charger_profiles):
    # read with the row at connection, so its tolerated deviations apply
    # from the first message. Null: none matched.
    charger_profile: Mapped[str | None] = mapped_column(sa.String(64))


class Connector(Base):
    """Last reported status of a connector. OCPP 1.6 connectorId N is stored as
    EVSE N, connector N; connectorId 0 (the whole station) as EVSE 0, connector 0."""

    __tablename__ = "connectors"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    evse_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    connector_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    error_code: Mapped[str | None] = mapped_column(sa.String(50))
    info: Mapped[str | None] = mapped_column(sa.String(50))
    vendor_id: Mapped[str | None] = mapped_column(sa.String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(sa.String(50))
    status_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeviceVariable(Base):
    """One attribute of one variable of the 2.0.1 device model (NotifyReport)."""

    __tablename__ = "device_variables"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    # component[instance]@evse.connector/variable[instance]#attributeType
    key: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    component: Mapped[str] = mapped_column(sa.String(50))
    component_instance: Mapped[str | None] = mapped_column(sa.String(50))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    variable: Mapped[str] = mapped_column(sa.String(50))
    variable_instance: Mapped[str | None] = mapped_column(sa.String(50))
    attribute_type: Mapped[str] = mapped_column(sa.String(16), default="Actual")
    value: Mapped[str | None] = mapped_column(sa.Text)
    mutability: Mapped[str | None] = mapped_column(sa.String(16))
    # The rest is the device model block's (0018, blocks/device_model).
    persistent: Mapped[bool | None] = mapped_column(sa.Boolean)
    constant: Mapped[bool | None] = mapped_column(sa.Boolean)
    # VariableCharacteristicsType.
    unit: Mapped[str | None] = mapped_column(sa.String(16))
    data_type: Mapped[str | None] = mapped_column(sa.String(20))
    min_limit: Mapped[float | None] = mapped_column(sa.Float)
    max_limit: Mapped[float | None] = mapped_column(sa.Float)
    values_list: Mapped[str | None] = mapped_column(sa.Text)
    supports_monitoring: Mapped[bool | None] = mapped_column(sa.Boolean)
    # The station's last answer about it (GetVariables / SetVariables
    # attributeStatus and statusInfo) and when it came.
    attribute_status: Mapped[str | None] = mapped_column(sa.String(32))
    status_info: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The last SetVariables: the value asked (never a secret), when, by whom.
    requested_value: Mapped[str | None] = mapped_column(sa.Text)
    requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    requested_by: Mapped[str | None] = mapped_column(sa.String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdToken(Base):
    __tablename__ = "id_tokens"

    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    # 2.0.1 IdTokenEnumType (ISO14443, ISO15693, eMAID, KeyCode, Central, ...).
    type: Mapped[str] = mapped_column(sa.String(20), default="ISO14443")
    # Accepted, Blocked, Expired, Invalid.
    status: Mapped[str] = mapped_column(sa.String(20), default="Accepted")
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # 1.6 parentIdTag / 2.0.1 groupIdToken.
    group_id: Mapped[str | None] = mapped_column(sa.String(64))
    # 2.0.1 IdTokenInfo.language1 / language2 (RFC 5646), for the station's display.
    language1: Mapped[str | None] = mapped_column(sa.String(8))
    language2: Mapped[str | None] = mapped_column(sa.String(8))
    # Limits every session this token starts gets (None: no limit).
    limit_energy_wh: Mapped[float | None] = mapped_column(sa.Float)
    limit_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    limit_cost: Mapped[str | None] = mapped_column(sa.String(24))
    # Free text for the operator (driver's name, card label, ...).
    note: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LocalListEntry(Base):
    """One token in a station's local authorization list (1.6 SendLocalList,
    2.0.1 D01/D02). `pending` says the station does not hold this entry's
    current state yet (a differential update waits for it); `removed` marks an
    entry to be deleted from the station and then from this table."""

    __tablename__ = "local_list_entries"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    token_type: Mapped[str] = mapped_column(sa.String(20), default="ISO14443")
    # The IdTagInfo / IdTokenInfo the station was (or will be) sent.
    info: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    pending: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    removed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # The list version that carried this entry to the station.
    version: Mapped[int | None] = mapped_column(sa.Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LocalList(Base):
    """A station's local authorization list as a whole: the version the station
    reported or accepted last, and whether a full update is owed to it."""

    __tablename__ = "local_lists"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    # What the station holds: its answer to GetLocalListVersion, or the version
    # of the last SendLocalList it Accepted.
    version: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Whether Volta keeps this station's list in step with token changes.
    managed: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    # A full update is owed (the last one failed or the station reported a
    # version mismatch); sent before any differential one.
    full_pending: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    last_status: Mapped[str | None] = mapped_column(sa.String(20))
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Reservation(Base):
    """A connector (1.6), an EVSE or a connector type (2.0.1) held for a driver.

    status: Requested (sent, no answer yet), then the station's answer
    (Accepted / Faulted / Occupied / Rejected / Unavailable / Failed when it
    could not be delivered), then for an Accepted one: Used (a transaction
    consumed it), Cancelled, Expired or Removed (2.0.1 ReservationStatusUpdate).
    """

    __tablename__ = "reservations"
    __table_args__ = (sa.Index("ix_reservations_station", "station_id", "status"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    protocol: Mapped[str | None] = mapped_column(sa.String(16))
    # 1.6 connectorId is stored as evse_id (0: any connector of the station).
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    connector_type: Mapped[str | None] = mapped_column(sa.String(20))
    id_token: Mapped[str] = mapped_column(sa.String(64))
    id_token_type: Mapped[str] = mapped_column(sa.String(20), default="ISO14443")
    group_id: Mapped[str | None] = mapped_column(sa.String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(sa.String(16), default="Requested")
    transaction_id: Mapped[int | None] = mapped_column(sa.Integer)
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RemoteStart(Base):
    """A session asked for from an app or a QR code: the remoteStartId sent in
    RemoteStartTransaction (1.6, as the request's own id) or
    RequestStartTransaction (2.0.1), linked to the transaction it produced.

    status: Requested, Accepted / Rejected / Failed (the station's answer or
    why it never came), Started (a transaction carries it), Timeout (accepted
    but no transaction came within the connection timeout)."""

    __tablename__ = "remote_starts"
    __table_args__ = (sa.Index("ix_remote_starts_station", "station_id", "status"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    id_token: Mapped[str] = mapped_column(sa.String(64))
    id_token_type: Mapped[str] = mapped_column(sa.String(20), default="Central")
    status: Mapped[str] = mapped_column(sa.String(16), default="Requested")
    transaction_id: Mapped[int | None] = mapped_column(sa.Integer)
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    # Limits the session gets when it starts.
    limit_energy_wh: Mapped[float | None] = mapped_column(sa.Float)
    limit_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    limit_cost: Mapped[str | None] = mapped_column(sa.String(24))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Transaction(Base):
    """A charging session. `id` is the 1.6 transactionId; 2.0.1 stations name
    their own transactions, kept in `station_transaction_id`."""

    __tablename__ = "transactions"
    __table_args__ = (
        sa.UniqueConstraint(
            "station_id", "station_transaction_id", name="uq_transactions_station_tx"
        ),
        sa.Index("ix_transactions_station_active", "station_id", "status"),
        sa.Index("ix_transactions_station_evse_active", "station_id", "evse_id", "status"),
        # The console's session list: newest start first, by token (0027).
        sa.Index("ix_transactions_started", "started_at", "id"),
        sa.Index("ix_transactions_token_started", "id_token", "started_at"),
        # The console's counters (web/counters.py): active sessions of the fleet.
        sa.Index("ix_transactions_status_station", "status", "station_id", "evse_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48), sa.ForeignKey("stations.id"))
    station_transaction_id: Mapped[str | None] = mapped_column(sa.String(36))
    protocol: Mapped[str] = mapped_column(sa.String(16))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    id_token: Mapped[str | None] = mapped_column(sa.String(64))
    id_token_type: Mapped[str | None] = mapped_column(sa.String(20))
    authorization_status: Mapped[str | None] = mapped_column(sa.String(20))
    reservation_id: Mapped[int | None] = mapped_column(sa.Integer)
    remote_start_id: Mapped[int | None] = mapped_column(sa.Integer)
    # Active or Ended.
    status: Mapped[str] = mapped_column(sa.String(16), default="Active")
    charging_state: Mapped[str | None] = mapped_column(sa.String(20))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    meter_start_wh: Mapped[float | None] = mapped_column(sa.Float)
    meter_stop_wh: Mapped[float | None] = mapped_column(sa.Float)
    energy_wh: Mapped[float | None] = mapped_column(sa.Float)
    stop_reason: Mapped[str | None] = mapped_column(sa.String(40))
    stop_id_token: Mapped[str | None] = mapped_column(sa.String(64))
    # Who ended it: station (its stop message), abandoned (a new transaction
    # started on the same EVSE), refused (its start was not authorised) or
    # operator (closed by hand); and why, in words, for the last three.
    ended_by: Mapped[str | None] = mapped_column(sa.String(16))
    end_note: Mapped[str | None] = mapped_column(sa.String(200))
    last_seq_no: Mapped[int | None] = mapped_column(sa.Integer)
    # State of charge (%) last reported by the EV, if it reports one.
    soc_percent: Mapped[float | None] = mapped_column(sa.Float)
    # Limits: Volta stops the session when one is reached (see blocks/limits).
    limit_energy_wh: Mapped[float | None] = mapped_column(sa.Float)
    limit_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    limit_cost: Mapped[str | None] = mapped_column(sa.String(24))  # a Decimal, as text
    limit_reached: Mapped[str | None] = mapped_column(sa.String(10))  # energy, time, cost
    limit_reached_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    stop_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # OCPP 2.1 E16 (migration 0022, the limits section below says more).
    limit_sent: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    station_limit: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    station_limit_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    limit_reached_by: Mapped[str | None] = mapped_column(sa.String(8))  # volta, station
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TransactionEvent(Base):
    """2.0.1 TransactionEvent messages, one per (transaction, seqNo) so a
    repeated event is recognised (E01 seqNo; OCPP-J retries)."""

    __tablename__ = "transaction_events"

    transaction_id: Mapped[int] = mapped_column(
        sa.ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True
    )
    seq_no: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    event_type: Mapped[str] = mapped_column(sa.String(10))
    trigger_reason: Mapped[str] = mapped_column(sa.String(40))
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    offline: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MeterValue(Base):
    """One sampled value; `value` is normalised to the base unit in `unit`
    (Wh, W, A, V, Percent, ...); `raw_value`/`raw_unit` are what the station sent."""

    __tablename__ = "meter_values"
    # One index: every read of meter values goes by transaction (0007).
    __table_args__ = (sa.Index("ix_meter_values_transaction", "transaction_id", "timestamp"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    station_id: Mapped[str] = mapped_column(sa.String(48))
    transaction_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("transactions.id", ondelete="CASCADE")
    )
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    measurand: Mapped[str] = mapped_column(sa.String(50))
    phase: Mapped[str | None] = mapped_column(sa.String(8))
    context: Mapped[str | None] = mapped_column(sa.String(30))
    location: Mapped[str | None] = mapped_column(sa.String(10))
    unit: Mapped[str | None] = mapped_column(sa.String(20))
    value: Mapped[float] = mapped_column(sa.Float)
    raw_value: Mapped[str] = mapped_column(sa.String(50))
    raw_unit: Mapped[str | None] = mapped_column(sa.String(20))


class Frame(Base):
    """Every OCPP frame in and out."""

    __tablename__ = "frames"
    __table_args__ = (sa.Index("ix_frames_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    station_id: Mapped[str] = mapped_column(sa.String(48))
    direction: Mapped[str] = mapped_column(sa.String(3))  # "in" or "out"
    message_type: Mapped[int | None] = mapped_column(sa.SmallInteger)
    message_id: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str | None] = mapped_column(sa.String(50))
    error_code: Mapped[str | None] = mapped_column(sa.String(40))
    raw: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Command(Base):
    """A CSMS-initiated message sent through the API, with its durable outcome."""

    __tablename__ = "commands"
    __table_args__ = (sa.Index("ix_commands_station", "station_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    action: Mapped[str] = mapped_column(sa.String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # pending, accepted, rejected, error, timeout, offline, invalid
    status: Mapped[str] = mapped_column(sa.String(16))
    message_id: Mapped[str | None] = mapped_column(sa.String(36))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error_code: Mapped[str | None] = mapped_column(sa.String(40))
    error_description: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    token_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Event(Base):
    """Something that happened, written in the same database transaction as
    the change that caused it (a transactional outbox): webhooks and the
    event stream read from here, so no event is lost across restarts."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_type", "type", "id"),
        # The console's event log filtered by station (issue 17, part D).
        sa.Index("ix_events_station", "station_id", "id"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    type: Mapped[str] = mapped_column(sa.String(40))
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    transaction_id: Mapped[int | None] = mapped_column(sa.Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(sa.String(500))
    # Signs each body (HMAC-SHA256); shown once, when the webhook is made.
    # Kept sealed (volta.secretbox: "enc:v1:..."), never in clear.
    secret: Mapped[str] = mapped_column(sa.String(255))
    # Event types it wants; ["*"]: all.
    event_types: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The node that sends this webhook's deliveries until `dispatch_until`
    # (a lease it renews): one sender at a time, in event order.
    dispatch_node: Mapped[str | None] = mapped_column(sa.String(40))
    dispatch_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Node(Base):
    """One running Volta process of a deployment (volta.cluster): its lease,
    renewed every `node_heartbeat`; a node whose lease has passed is dead."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column(sa.Integer)
    # running, draining
    state: Mapped[str] = mapped_column(sa.String(16), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    renewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    stations: Mapped[int] = mapped_column(sa.Integer, default=0)
    leader: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class WebhookDelivery(Base):
    """One event for one webhook: pending until a 2xx answer (delivered), or
    failed after the last retry."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_delivery_webhook_event"),
        sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
        # A webhook's deliveries newest first (the console, issue 17 part D).
        sa.Index("ix_deliveries_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    webhook_id: Mapped[int] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    """A person who signs in to the dashboard. role: admin (may change things)
    or viewer (read only). The password is a salted PBKDF2-SHA256 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16), default="viewer")
    # The console's language (en, it) and time zone (IANA); NULL: the
    # browser's Accept-Language, the site's console_time_zone.
    language: Mapped[str | None] = mapped_column(sa.String(8))
    time_zone: Mapped[str | None] = mapped_column(sa.String(64))
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Tariff(Base):
    """Prices of charging sessions (see volta.blocks.tariffs.model). Amounts
    are strings of decimals in `components`, never floats."""

    __tablename__ = "tariffs"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    currency: Mapped[str] = mapped_column(sa.String(3))
    tax_percent: Mapped[Decimal] = mapped_column(sa.Numeric(7, 4))
    # price_kwh, price_minute, price_idle_minute, idle_grace_minutes, session_fee.
    components: Mapped[dict[str, Any]] = mapped_column(JSONType)
    periods: Mapped[list[Any]] = mapped_column(JSONType)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random 256-bit value; only its
    SHA-256 is kept here, so a database leak does not hand out sessions, and
    signing out, a password change or removing the user ends the session."""

    __tablename__ = "web_sessions"
    __table_args__ = (sa.Index("ix_web_sessions_user", "user_id"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class TariffAssignment(Base):
    """A tariff applied to an EVSE (station_id + evse_id), a station
    (station_id) or the tokens of a group (group_id)."""

    __tablename__ = "tariff_assignments"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tariff_id: Mapped[int] = mapped_column(sa.ForeignKey("tariffs.id", ondelete="CASCADE"))
    station_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), index=True
    )
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    group_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Cdr(Base):
    """A charge detail record: written once when a session ends, never updated."""

    __tablename__ = "cdrs"
    __table_args__ = (
        sa.Index("ix_cdrs_station_end", "station_id", "end_at"),
        # The console's CDR list filtered by id token or flag (migration 0027, part C).
        sa.Index("ix_cdrs_token_end", "id_token", "end_at"),
        sa.Index("ix_cdrs_flags_end", "flags", "end_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(39), primary_key=True)
    transaction_id: Mapped[int] = mapped_column(sa.ForeignKey("transactions.id"), unique=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    id_token: Mapped[str | None] = mapped_column(sa.String(64))
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    tariff_id: Mapped[int | None] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3))
    energy_wh: Mapped[Decimal] = mapped_column(sa.Numeric(14, 3))
    total_excl_tax: Mapped[Decimal] = mapped_column(sa.Numeric(14, 4))
    total_incl_tax: Mapped[Decimal] = mapped_column(sa.Numeric(14, 4))
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSONType)
    tariff: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    audit: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # audit["flags"] joined with commas (token_refused, station_cost_differs),
    # NULL for an ordinary CDR: the console filters on it (migration 0027).
    flags: Mapped[str | None] = mapped_column(sa.String(64))


class ChargingProfile(Base):
    """A charging profile Volta sent (or a station reported), per EVSE (0:
    the whole station), with the station's answer: what Volta believes is
    installed is every row `Accepted` and not cleared or replaced."""

    __tablename__ = "charging_profiles"
    __table_args__ = (sa.Index("ix_charging_profiles_station", "station_id", "evse_id", "status"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(sa.Integer)
    # The profile's own id (chargingProfileId / id), unique per station.
    profile_id: Mapped[int] = mapped_column(sa.Integer)
    stack_level: Mapped[int] = mapped_column(sa.Integer)
    # 2.0.1 names (volta.ocpp.charging): ChargingStationMaxProfile, TxDefaultProfile,
    # TxProfile, ChargingStationExternalConstraints.
    purpose: Mapped[str] = mapped_column(sa.String(40))
    transaction_id: Mapped[str | None] = mapped_column(sa.String(36))
    # The profile in 2.0.1 wire shape (volta.ocpp.charging.to_v201).
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Who made it: api, allocator, fallback (the site's safe default), station
    # (reported by ReportChargingProfiles / NotifyChargingLimit).
    source: Mapped[str] = mapped_column(sa.String(16))
    # Requested, Accepted, Rejected, Failed (no answer), Cleared, Replaced;
    # Reported: a ReportChargingProfiles row (what the station says it has,
    # kept apart from what Volta believes is installed).
    status: Mapped[str] = mapped_column(sa.String(16))
    # Rows from stations (migration 0010): who set the limit (CSO, EMS, SO,
    # Other), and the requestId of the report the row came from.
    limit_source: Mapped[str | None] = mapped_column(sa.String(8))
    report_id: Mapped[int | None] = mapped_column(sa.Integer)
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Site(Base):
    """A grid connection, or a circuit (sub-panel) below one: a tree through
    `parent_id`. Its limit is per phase, in A, or in W over all phases."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sites.id", ondelete="RESTRICT"), index=True
    )
    max_current_a: Mapped[float | None] = mapped_column(sa.Float)
    max_power_w: Mapped[float | None] = mapped_column(sa.Float)
    phases: Mapped[int] = mapped_column(sa.Integer, default=3)
    voltage_v: Mapped[float] = mapped_column(sa.Float, default=230.0)
    # equal, priority, first_come
    strategy: Mapped[str] = mapped_column(sa.String(16), default="equal")
    min_current_a: Mapped[float] = mapped_column(sa.Float, default=6.0)
    # With the priority strategy: a token group's priority ({"FLEET": 10}).
    group_priorities: Mapped[dict[str, int] | None] = mapped_column(JSONType)
    # Peak shaving: the site's meter (a station's main meter, EVSE 0) or
    # readings pushed to the API; the latest non-EV load, per phase, in A.
    meter_station_id: Mapped[str | None] = mapped_column(sa.String(48))
    non_ev_load_a: Mapped[list[float] | None] = mapped_column(JSONType)
    non_ev_load_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EvseAllocation(Base):
    """What the allocator gave an EVSE and what the station answered: kept so
    that the allocation survives a restart and only changes are sent."""

    __tablename__ = "evse_allocations"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    evse_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    site_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    # Per-phase current in A (0: paused), and on how many phases.
    limit_a: Mapped[float] = mapped_column(sa.Float)
    phases: Mapped[int] = mapped_column(sa.Integer, default=3)
    # Higher first with the priority strategy.
    priority: Mapped[int] = mapped_column(sa.Integer, default=0)
    transaction_id: Mapped[str | None] = mapped_column(sa.String(36))
    profile_id: Mapped[int | None] = mapped_column(sa.Integer)
    # What the EV said through ISO 15118 (2.0.1 NotifyEVChargingNeeds), for
    # the current session: departure, energy still needed, its current range.
    departure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    energy_needed_wh: Mapped[float | None] = mapped_column(sa.Float)
    ev_min_current_a: Mapped[float | None] = mapped_column(sa.Float)
    ev_max_current_a: Mapped[float | None] = mapped_column(sa.Float)
    # Sent, Accepted, Rejected, Failed: a station that did not confirm is
    # counted at its maximum.
    status: Mapped[str] = mapped_column(sa.String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- security events and passwords (0013) ----------------------------------


class SecurityEvent(Base):
    """The security event log (docs/security.md): what stations report
    (SecurityEventNotification, 2.0.1 A04, 1.6 security whitepaper) and what
    Volta itself sees (failed sign-ins, certificates refused, downgrades)."""

    __tablename__ = "security_events"
    __table_args__ = (
        sa.Index("ix_security_events_station", "station_id", "id"),
        sa.Index("ix_security_events_critical", "critical", "id"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    # None: an event of no one station (failed sign-ins from one address).
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    type: Mapped[str] = mapped_column(sa.String(50))  # SecurityEventNotification type: string[50]
    critical: Mapped[bool] = mapped_column(sa.Boolean)
    tech_info: Mapped[str | None] = mapped_column(sa.String(255))  # techInfo: string[255]
    origin: Mapped[str] = mapped_column(sa.String(8))  # "station" or "volta"
    # When it happened: the station's timestamp, or when Volta saw it.
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StationPassword(Base):
    """A station's password rotation (2.0.1 A01, 1.6 whitepaper AuthorizationKey):
    one row per station, its latest rotation. While `next_hash` is set both the
    old (stations.password_hash) and the new password open the door; the first
    sign-in with the new one makes it the station's password."""

    __tablename__ = "station_passwords"

    station_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    # sending (asked, no answer yet), pending (accepted: waiting for the
    # station to sign in with it), rotated, failed.
    state: Mapped[str] = mapped_column(sa.String(16))
    next_hash: Mapped[str | None] = mapped_column(sa.String(200))
    # The station's password hash when the rotation began: the new one is
    # promoted only over that one (an operator's PATCH in between wins).
    replaces_hash: Mapped[str | None] = mapped_column(sa.String(200))
    # api, schedule, dashboard, cli
    started_by: Mapped[str] = mapped_column(sa.String(16))
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    # Why it failed: the station's status, the error code, "timeout", ...
    detail: Mapped[str | None] = mapped_column(sa.String(200))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


# -- certificates (0014) ---------------------------------------------------


class CaCertificate(Base):
    """One of Volta's certificate authorities (docs/security.md, "Certificates"):
    "csms" signs ChargingStationCertificates; "v2g_root" -> "cpo_sub1" ->
    "cpo_sub2" is the ISO 15118 chain that signs V2GCertificates. The private
    key is sealed (volta.secretbox), never kept in clear."""

    __tablename__ = "ca_certificates"

    name: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(sa.Text)
    sealed_key: Mapped[str] = mapped_column(sa.Text)
    # "generated" (Volta made it) or "imported" (the operator's root or sub-CA).
    origin: Mapped[str] = mapped_column(sa.String(16), default="generated")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CertificateRequest(Base):
    """A CSR a station sent (SignCertificate), and what became of it."""

    __tablename__ = "certificate_requests"
    __table_args__ = (sa.Index("ix_certificate_requests_station", "station_id", "created_at"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    # ChargingStationCertificate or V2GCertificate.
    certificate_type: Mapped[str] = mapped_column(sa.String(32))
    csr_pem: Mapped[str] = mapped_column(sa.Text)
    # Rejected (the CSR failed a check), Accepted (to be signed), Signed, Failed
    # (the CA could not sign it).
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(255))
    certificate_id: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IssuedCertificate(Base):
    """A certificate Volta's CA (or the external one) issued to a station, and
    the station's answer to CertificateSigned."""

    __tablename__ = "issued_certificates"
    __table_args__ = (
        sa.Index("ix_issued_certificates_station", "station_id", "certificate_type"),
        sa.Index("ix_issued_certificates_not_after", "not_after"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    certificate_type: Mapped[str] = mapped_column(sa.String(32))
    serial_number: Mapped[str] = mapped_column(sa.String(64))
    subject: Mapped[str] = mapped_column(sa.String(255))
    issuer: Mapped[str] = mapped_column(sa.String(255))
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # SHA-256 of the DER certificate, hex.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    # The whole certificateChain sent (leaf first).
    chain_pem: Mapped[str] = mapped_column(sa.Text)
    # builtin or est.
    backend: Mapped[str] = mapped_column(sa.String(16))
    # The station's CertificateSigned answer: Sent, Accepted, Rejected, or
    # Failed (no answer: offline, timeout, error).
    status: Mapped[str] = mapped_column(sa.String(16))
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    # When housekeeping last asked the station for a new CSR before expiry.
    renewal_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InstalledCertificate(Base):
    """What a station said it has installed, from its last
    GetInstalledCertificateIds answer for that certificate type."""

    __tablename__ = "installed_certificates"
    __table_args__ = (sa.Index("ix_installed_certificates_station", "station_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    # 2.0.1 GetCertificateIdUseEnumType (1.6 CentralSystemRootCertificate is
    # stored as CSMSRootCertificate).
    certificate_type: Mapped[str] = mapped_column(sa.String(32))
    hash_algorithm: Mapped[str] = mapped_column(sa.String(8))
    issuer_name_hash: Mapped[str] = mapped_column(sa.String(128))
    issuer_key_hash: Mapped[str] = mapped_column(sa.String(128))
    serial_number: Mapped[str] = mapped_column(sa.String(40))
    # 2.0.1 childCertificateHashData (a V2GCertificateChain's sub-CAs).
    child_certificates: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- Plug & Charge (0015) --------------------------------------------------


# -- files (0016) ------------------------------------------------------------


class StoredFile(Base):
    """A file in the file service: a firmware image an operator uploaded, or a
    diagnostics or log file a station uploaded. The bytes are stored once per
    content (blocks.files.storage, keyed by sha256); this row is one name for them."""

    __tablename__ = "files"
    __table_args__ = (
        sa.Index("ix_files_kind_created", "kind", "created_at"),
        sa.Index("ix_files_sha256", "sha256"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    # firmware, diagnostics, log
    kind: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(255))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(100), default="application/octet-stream")
    # The station that uploaded it (diagnostics, log), or none.
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    # Signed firmware (1.6 security extension, 2.0.1 L01): the signing
    # certificate (PEM) and the signature (base64) stations are sent.
    signing_certificate: Mapped[str | None] = mapped_column(sa.Text)
    signature: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FileLink(Base):
    """A per-request URL (/transfers/{token}): a station downloads a file
    through it, or uploads one to it, until it expires."""

    __tablename__ = "file_links"
    __table_args__ = (sa.Index("ix_file_links_expires", "expires_at"),)

    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    # download, upload
    direction: Mapped[str] = mapped_column(sa.String(8))
    station_id: Mapped[str] = mapped_column(sa.String(48))
    # download: the file sent; upload: the file received (once it arrived).
    file_id: Mapped[str | None] = mapped_column(sa.String(36))
    # upload: the kind of file expected (diagnostics, log).
    kind: Mapped[str | None] = mapped_column(sa.String(16))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LogRequest(Base):
    """A diagnostics or log upload Volta asked a station for (1.6 GetDiagnostics,
    GetLog of 2.0.1 N01 and of the 1.6 security extension) and what became of it.
    Its id is the GetLog requestId."""

    __tablename__ = "log_requests"
    __table_args__ = (sa.Index("ix_log_requests_station", "station_id", "created_at"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    # GetDiagnostics or GetLog
    action: Mapped[str] = mapped_column(sa.String(16))
    # Diagnostics (GetDiagnostics), DiagnosticsLog, SecurityLog (GetLog)
    log_type: Mapped[str] = mapped_column(sa.String(16))
    # http or ftp: how the station was asked to upload
    scheme: Mapped[str] = mapped_column(sa.String(8))
    # The upload link's token (file_links.token): the file that arrives through it.
    link_token: Mapped[str] = mapped_column(sa.String(64))
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    # The latest status: Requested, then the answer (Accepted, Rejected,
    # AcceptedCanceled, or the command's failure: offline, timeout, ...), then
    # the station's notifications (Uploading, Uploaded, UploadFailure, ...).
    status: Mapped[str] = mapped_column(sa.String(32))
    # Every status with its time: [{"status": ..., "at": ISO 8601}, ...]
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    # The file name the station announced (fileName / filename in its answer).
    filename: Mapped[str | None] = mapped_column(sa.String(255))
    file_id: Mapped[str | None] = mapped_column(sa.String(36))
    oldest: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    latest: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    retries: Mapped[int | None] = mapped_column(sa.Integer)
    retry_interval: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- firmware (0017) -------------------------------------------------------


class FirmwareUpdate(Base):
    """One firmware update of one station (1.6 UpdateFirmware or
    SignedUpdateFirmware, 2.0.1 UpdateFirmware L01/L02) and what the station
    reported of it. Its id is the requestId the station is sent."""

    __tablename__ = "firmware_updates"
    __table_args__ = (
        sa.Index("ix_firmware_updates_station", "station_id", "id"),
        sa.Index("ix_firmware_updates_campaign", "campaign_id", "station_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    campaign_id: Mapped[int | None] = mapped_column(sa.Integer)
    # A stored firmware file (its link is made per request), or none: an
    # external location the operator gave.
    file_id: Mapped[str | None] = mapped_column(sa.String(36))
    location: Mapped[str] = mapped_column(sa.String(512))
    # The firmware version the station should report at boot once done.
    version: Mapped[str | None] = mapped_column(sa.String(50))
    # UpdateFirmware or SignedUpdateFirmware (1.6 with a signature).
    action: Mapped[str] = mapped_column(sa.String(24))
    signed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    retrieve_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    install_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    retries: Mapped[int | None] = mapped_column(sa.Integer)
    retry_interval: Mapped[int | None] = mapped_column(sa.Integer)
    # sending, in_progress, installed, failed, canceled (the last three final).
    state: Mapped[str] = mapped_column(sa.String(16))
    # The station's latest status (Downloading, ..., Installed) or its answer.
    status: Mapped[str | None] = mapped_column(sa.String(32))
    detail: Mapped[str | None] = mapped_column(sa.String(255))
    # [{"status": ..., "at": ...}], each status the station reported, bounded.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class FirmwarePublication(Base):
    """Firmware a Local Controller was asked to publish for the stations
    behind it (2.0.1 L03 PublishFirmware), and its unpublishing (L04). Its id
    is the requestId sent."""

    __tablename__ = "firmware_publications"
    __table_args__ = (sa.Index("ix_firmware_publications_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    file_id: Mapped[str | None] = mapped_column(sa.String(36))
    location: Mapped[str] = mapped_column(sa.String(512))
    # MD5 of the whole file, hex (what PublishFirmware and UnpublishFirmware carry).
    checksum: Mapped[str] = mapped_column(sa.String(32))
    # sending, in_progress, published, failed, unpublished
    state: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str | None] = mapped_column(sa.String(32))
    detail: Mapped[str | None] = mapped_column(sa.String(255))
    # The URIs the Local Controller serves it at (status Published).
    published_at: Mapped[list[str] | None] = mapped_column(JSONType)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FirmwareCampaign(Base):
    """A staged rollout: a canary group, then waves of at most
    `max_in_progress`, inside a time window, halted above a failure rate."""

    __tablename__ = "firmware_campaigns"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    file_id: Mapped[str | None] = mapped_column(sa.String(36))
    location: Mapped[str | None] = mapped_column(sa.String(512))
    version: Mapped[str | None] = mapped_column(sa.String(50))
    signing_certificate: Mapped[str | None] = mapped_column(sa.Text)
    signature: Mapped[str | None] = mapped_column(sa.Text)
    # What chose the stations: vendor, model, firmware_version, site_id, station_ids.
    target: Mapped[dict[str, Any]] = mapped_column(JSONType)
    canary: Mapped[int] = mapped_column(sa.Integer)
    max_in_progress: Mapped[int] = mapped_column(sa.Integer)
    # Per station, how many updates may be tried.
    attempts: Mapped[int] = mapped_column(sa.Integer)
    # Halt when failed / finished exceeds this (0..1).
    failure_threshold: Mapped[float] = mapped_column(sa.Float)
    # "HH:MM" in `timezone`; both null: always.
    window_start: Mapped[str | None] = mapped_column(sa.String(5))
    window_end: Mapped[str | None] = mapped_column(sa.String(5))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # Failed stations a resume after a halt accepted: the rate counts only
    # the failures after it.
    forgiven: Mapped[int] = mapped_column(sa.Integer, default=0)
    # running, paused, halted, canceled, finished
    state: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[str | None] = mapped_column(sa.String(255))
    created_by: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class FirmwareCampaignStation(Base):
    """A station of a campaign and where it is in it."""

    __tablename__ = "firmware_campaign_stations"

    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("firmware_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    station_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    canary: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # pending, in_progress, installed, failed, skipped_offline
    state: Mapped[str] = mapped_column(sa.String(16))
    tries: Mapped[int] = mapped_column(sa.Integer, default=0)
    update_id: Mapped[int | None] = mapped_column(sa.Integer)
    detail: Mapped[str | None] = mapped_column(sa.String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- device model (0018) ---------------------------------------------------


class DeviceReport(Base):
    """A 2.0.1 report (GetBaseReport / GetReport, B07 / B08) by its requestId:
    requested, then receiving its NotifyReport parts, complete at the part
    without tbc; refused when the station did not answer Accepted."""

    __tablename__ = "device_reports"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    request_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    # FullInventory, ConfigurationInventory, SummaryInventory, Custom (GetReport),
    # or none (a report Volta did not ask for).
    kind: Mapped[str | None] = mapped_column(sa.String(32))
    # requested, receiving, complete, refused
    status: Mapped[str] = mapped_column(sa.String(16))
    # The station's Get(Base)Report answer: Accepted, Rejected, NotSupported, EmptyResultSet.
    answer: Mapped[str | None] = mapped_column(sa.String(32))
    # GetReport: componentVariable and componentCriteria as sent.
    criteria: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    parts: Mapped[int] = mapped_column(sa.Integer, default=0)
    items: Mapped[int] = mapped_column(sa.Integer, default=0)
    requested_by: Mapped[str | None] = mapped_column(sa.String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ConfigurationKey(Base):
    """A 1.6 configuration key as GetConfiguration told it, and the last
    ChangeConfiguration of it with the station's answer."""

    __tablename__ = "configuration_keys"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    value: Mapped[str | None] = mapped_column(sa.Text)
    readonly: Mapped[bool | None] = mapped_column(sa.Boolean)
    # Named by the station in unknownKey: it has no such key.
    unknown: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # The last ChangeConfiguration: the value asked (never a secret), when,
    # by whom, and the answer (Accepted, Rejected, RebootRequired, NotSupported).
    requested_value: Mapped[str | None] = mapped_column(sa.Text)
    requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    requested_by: Mapped[str | None] = mapped_column(sa.String(64))
    answer: Mapped[str | None] = mapped_column(sa.String(16))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- monitoring (0019) -----------------------------------------------------


class VariableMonitor(Base):
    """A monitor on a station's variable (2.0.1 N04): what Volta asked
    (SetVariableMonitoring) and the station's answer, or one the station
    reported (NotifyMonitoringReport, N02: its preconfigured and hard-wired
    monitors too). `monitor_id` is the id the station gave (none until it
    accepted)."""

    __tablename__ = "variable_monitors"
    __table_args__ = (
        sa.UniqueConstraint("station_id", "monitor_id", name="uq_variable_monitors_station_id"),
        sa.Index("ix_variable_monitors_station", "station_id", "id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    monitor_id: Mapped[int | None] = mapped_column(sa.Integer)
    component: Mapped[str] = mapped_column(sa.String(50))
    component_instance: Mapped[str | None] = mapped_column(sa.String(50))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    variable: Mapped[str] = mapped_column(sa.String(50))
    variable_instance: Mapped[str | None] = mapped_column(sa.String(50))
    # MonitorEnumType: UpperThreshold, LowerThreshold, Delta, Periodic, PeriodicClockAligned
    type: Mapped[str] = mapped_column(sa.String(24))
    value: Mapped[float] = mapped_column(sa.Float)
    severity: Mapped[int] = mapped_column(sa.SmallInteger)
    transaction: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # Requested (sent, no answer yet), a SetMonitoringStatusEnumType (Accepted,
    # Rejected, UnknownComponent, ...), Failed (no answer), Reported (from
    # a NotifyMonitoringReport).
    status: Mapped[str] = mapped_column(sa.String(24))
    status_info: Mapped[str | None] = mapped_column(sa.String(600))
    # volta (set through Volta) or station (reported by it)
    origin: Mapped[str] = mapped_column(sa.String(8))
    # The monitor set it was applied with (blocks/monitoring/sets.py), if any.
    set_name: Mapped[str | None] = mapped_column(sa.String(40))
    # The station's answer to the latest ClearVariableMonitoring of it, when
    # it was not cleared (Rejected).
    clear_status: Mapped[str | None] = mapped_column(sa.String(16))
    # The monitoring report that last listed it (monitoring_reports.id).
    reported_in: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MonitoringReport(Base):
    """A GetMonitoringReport request (N02) and the NotifyMonitoringReport
    parts that answered it (by requestId)."""

    __tablename__ = "monitoring_reports"
    __table_args__ = (sa.Index("ix_monitoring_reports_station", "station_id", "request_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    request_id: Mapped[int] = mapped_column(sa.Integer)
    criteria: Mapped[list[str] | None] = mapped_column(JSONType)
    component_variables: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    # Requested, then the station's answer (Accepted, Rejected, NotSupported,
    # EmptyResultSet) or Failed; Complete once the last part (tbc false) came.
    status: Mapped[str] = mapped_column(sa.String(16))
    parts: Mapped[int] = mapped_column(sa.Integer, default=0)
    monitors: Mapped[int] = mapped_column(sa.Integer, default=0)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class StationMonitoring(Base):
    """A station's monitoring base (N03) and level (N05) as last set through Volta."""

    __tablename__ = "station_monitoring"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    monitoring_base: Mapped[str | None] = mapped_column(sa.String(16))
    base_status: Mapped[str | None] = mapped_column(sa.String(16))
    monitoring_level: Mapped[int | None] = mapped_column(sa.SmallInteger)
    level_status: Mapped[str | None] = mapped_column(sa.String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MonitoringEvent(Base):
    """One eventData of a NotifyEvent (N07 alerts, N08 periodic): bounded per
    station and pruned by age (housekeeping)."""

    __tablename__ = "monitoring_events"
    __table_args__ = (sa.Index("ix_monitoring_events_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    station_id: Mapped[str] = mapped_column(sa.String(48))
    event_id: Mapped[int] = mapped_column(sa.Integer)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Alerting, Delta, Periodic
    trigger: Mapped[str] = mapped_column(sa.String(10))
    cause: Mapped[int | None] = mapped_column(sa.Integer)
    actual_value: Mapped[str] = mapped_column(sa.String(2500))  # string[2500]
    tech_code: Mapped[str | None] = mapped_column(sa.String(50))
    tech_info: Mapped[str | None] = mapped_column(sa.String(500))
    cleared: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    transaction_id: Mapped[str | None] = mapped_column(sa.String(36))
    component: Mapped[str] = mapped_column(sa.String(50))
    component_instance: Mapped[str | None] = mapped_column(sa.String(50))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    variable: Mapped[str] = mapped_column(sa.String(50))
    variable_instance: Mapped[str | None] = mapped_column(sa.String(50))
    variable_monitoring_id: Mapped[int | None] = mapped_column(sa.Integer)
    # HardWiredNotification, HardWiredMonitor, PreconfiguredMonitor, CustomMonitor
    event_notification_type: Mapped[str] = mapped_column(sa.String(24))
    # The monitor's severity (0 Danger ... 9 Debug) when Volta knows the monitor.
    severity: Mapped[int | None] = mapped_column(sa.SmallInteger)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- display messages, customer information (0020) ------------------------


class DisplayMessage(Base):
    """A display message of a station (2.0.1 block O): one row per message id,
    as Volta last set it (O01/O02, replaced in place: O06) or as the station
    reported it (NotifyDisplayMessages, O03/O04), with the station's answer.

    status: Requested (sent, no answer yet), the SetDisplayMessage answer
    (Accepted, NotSupportedMessageFormat, Rejected, NotSupportedPriority,
    NotSupportedState, UnknownTransaction), Failed (no answer), Cleared (O05
    accepted), Reported (known only from the station's report)."""

    __tablename__ = "display_messages"
    __table_args__ = (
        sa.UniqueConstraint("station_id", "message_id", name="uq_display_messages_station_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    # MessageInfoType.id: the station's key for the message.
    message_id: Mapped[int] = mapped_column(sa.Integer)
    priority: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str | None] = mapped_column(sa.String(16))
    start_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    end_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # O02: shown only during this transaction (the station's transactionId).
    transaction_id: Mapped[str | None] = mapped_column(sa.String(36))
    format: Mapped[str] = mapped_column(sa.String(8))
    language: Mapped[str | None] = mapped_column(sa.String(8))
    content: Mapped[str] = mapped_column(sa.String(512))
    # The display component (ComponentType) it is meant for, if any.
    display: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(32))
    # api, dashboard, tariff (the tariff shown at a transaction's start), station.
    source: Mapped[str] = mapped_column(sa.String(16))
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DisplayMessageReport(Base):
    """A GetDisplayMessages request (O03/O04): its id is the requestId, and the
    NotifyDisplayMessages parts that answered it are gathered in `messages`."""

    __tablename__ = "display_message_reports"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), index=True
    )
    # The criteria asked for: ids, priority, state (none: all messages, O03).
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The GetDisplayMessages answer (Accepted, Unknown), or Requested / Failed.
    status: Mapped[str] = mapped_column(sa.String(16))
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    parts: Mapped[int] = mapped_column(sa.Integer, default=0)
    # The last part came (tbc false).
    complete: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CustomerInformationRequest(Base):
    """A CustomerInformation request (2.0.1 N09 report, N10 clear): its id is
    the requestId; the NotifyCustomerInformation parts are joined in `data`."""

    __tablename__ = "customer_information_requests"
    __table_args__ = (sa.Index("ix_customer_information_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    report: Mapped[bool] = mapped_column(sa.Boolean)
    clear: Mapped[bool] = mapped_column(sa.Boolean)
    # Exactly one of these names the customer (N09.FR.09 / N10.FR.06).
    id_token: Mapped[str | None] = mapped_column(sa.String(64))
    id_token_type: Mapped[str | None] = mapped_column(sa.String(20))
    customer_certificate: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    customer_identifier: Mapped[str | None] = mapped_column(sa.String(64))
    # Requested, then the answer (Accepted, Rejected, Invalid) or Failed.
    status: Mapped[str] = mapped_column(sa.String(16))
    data: Mapped[str] = mapped_column(sa.Text, default="")
    parts: Mapped[int] = mapped_column(sa.Integer, default=0)
    complete: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # The erasure this request belongs to, if any (id_token_erasures.id).
    erasure_id: Mapped[int | None] = mapped_column(sa.Integer)
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdTokenErasure(Base):
    """A driver's data erased (docs/device-management.md, "Customer
    information"): never the token itself, only the pseudonym that replaced it
    in the records kept for billing and what was done."""

    __tablename__ = "id_token_erasures"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    pseudonym: Mapped[str] = mapped_column(sa.String(32), unique=True)
    # Rows changed per table, and the stations asked to clear.
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- charger profiles, availability (0021) ---------------------------------


class AvailabilityChange(Base):
    """A change of what availability reporting counts (blocks/availability):
    a connector going down (Faulted, Unavailable) or up, or the station
    going offline or online (connector_id null). Written only when that
    changes, in the transaction of the status or connection it follows."""

    __tablename__ = "availability_changes"
    __table_args__ = (sa.Index("ix_availability_changes_station_at", "station_id", "at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    station_id: Mapped[str] = mapped_column(sa.String(48))
    # null: the station's connection; 0: the whole station (1.6 connector 0).
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    down: Mapped[bool] = mapped_column(sa.Boolean)
    # The status that made it so (Faulted, Available, ...; offline, online).
    status: Mapped[str] = mapped_column(sa.String(20))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class MaintenanceWindow(Base):
    """Planned maintenance the operator marked: not counted against uptime.
    For one station (one EVSE of it, or all), one site, or the fleet."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    site_id: Mapped[int | None] = mapped_column(sa.Integer)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_by: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- OCPP 2.1: transaction limits ---
# A 2.1 station holds a session's limits itself (E16): they live on the
# Transaction row, beside the limits Volta watches for 1.6 and 2.0.1:
# `limit_sent` (the transactionLimit last put in a TransactionEventResponse),
# `station_limit` / `station_limit_at` (transactionInfo.transactionLimit as
# the station last reported it) and `limit_reached_by` (volta or station).


# --- OCPP 2.1: tariffs and cost in the station ---
class StationTariff(Base):
    """A tariff a 2.1 station reported it holds (GetTariffs, I12): what the
    station said, as it said it. `volta_tariff_id` is Volta's tariff when
    the tariffId is one Volta made (volta.blocks.tariffs.translate)."""

    __tablename__ = "station_tariffs"
    __table_args__ = (sa.Index("ix_station_tariffs_station", "station_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    tariff_id: Mapped[str] = mapped_column(sa.String(60))
    tariff_kind: Mapped[str] = mapped_column(sa.String(20))
    valid_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    evse_ids: Mapped[list[Any] | None] = mapped_column(JSONType)
    id_tokens: Mapped[list[Any] | None] = mapped_column(JSONType)
    volta_tariff_id: Mapped[int | None] = mapped_column(sa.Integer)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StationCost(Base):
    """The cost a 2.1 station calculated for a transaction (costDetails in
    its TransactionEvent, I11): the latest one it sent, kept whole, and its
    totals; the CDR compares them with Volta's own calculation."""

    __tablename__ = "station_costs"

    transaction_id: Mapped[int] = mapped_column(
        sa.ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True
    )
    station_id: Mapped[str] = mapped_column(sa.String(48))
    event_type: Mapped[str] = mapped_column(sa.String(16))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    type_of_cost: Mapped[str | None] = mapped_column(sa.String(20))
    total_excl_tax: Mapped[Decimal | None] = mapped_column(sa.Numeric(20, 6))
    total_incl_tax: Mapped[Decimal | None] = mapped_column(sa.Numeric(20, 6))
    tariff_id: Mapped[str | None] = mapped_column(sa.String(60))
    cost_details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- OCPP 2.1: payment, priority charging, battery swap, event streams ---
class PaymentSettlement(Base):
    """A station's NotifySettlement (2.1 ad hoc payment, block C): what its
    payment terminal or web payment settled, refused or failed, attached to
    the session it paid for (`transaction_ref`, when the station named one
    Volta knows) and so to that session's CDR."""

    __tablename__ = "payment_settlements"
    __table_args__ = (sa.Index("ix_payment_settlements_station_id", "station_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    # The station's transactionId (absent: canceled before a transaction began).
    transaction_id: Mapped[str | None] = mapped_column(sa.String(36))
    transaction_ref: Mapped[int | None] = mapped_column(
        sa.ForeignKey("transactions.id", ondelete="SET NULL"), index=True
    )
    psp_ref: Mapped[str] = mapped_column(sa.String(255))
    # Settled, Canceled, Rejected, Failed (PaymentStatusEnumType).
    status: Mapped[str] = mapped_column(sa.String(16))
    status_info: Mapped[str | None] = mapped_column(sa.String(500))
    # As the station sent it (a JSON number), kept digit for digit.
    amount: Mapped[str] = mapped_column(sa.String(40))
    settled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    receipt_id: Mapped[str | None] = mapped_column(sa.String(50))
    receipt_url: Mapped[str | None] = mapped_column(sa.String(2000))
    vat_number: Mapped[str | None] = mapped_column(sa.String(20))
    vat_company: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VatNumber(Base):
    """A VAT number the operator vouches for (VatNumberValidation): its
    company address is what Volta answers with."""

    __tablename__ = "vat_numbers"

    vat_number: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    company: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PriorityCharging(Base):
    """Priority charging of a transaction (2.1): an operator's
    UsePriorityCharging with the station's answer (source api), or the
    station's NotifyPriorityCharging (source station)."""

    __tablename__ = "priority_charging"
    __table_args__ = (sa.Index("ix_priority_charging_station_id", "station_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    transaction_id: Mapped[str] = mapped_column(sa.String(36))
    transaction_ref: Mapped[int | None] = mapped_column(
        sa.ForeignKey("transactions.id", ondelete="SET NULL"), index=True
    )
    activated: Mapped[bool] = mapped_column(sa.Boolean)
    source: Mapped[str] = mapped_column(sa.String(16))
    # api: the UsePriorityCharging answer (Accepted, Rejected, NoProfile) or
    # Failed; station: Notified.
    status: Mapped[str] = mapped_column(sa.String(16))
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BatterySwap(Base):
    """A station's BatterySwap (BatteryIn, BatteryOut, BatteryOutTimeout) with
    the batteries it names and Volta's verdict on the driver's token, or an
    operator's RequestBatterySwap (event_type Requested, status the answer)."""

    __tablename__ = "battery_swaps"
    __table_args__ = (sa.Index("ix_battery_swaps_station_id", "station_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    request_id: Mapped[int] = mapped_column(sa.Integer)
    event_type: Mapped[str] = mapped_column(sa.String(20))
    id_token: Mapped[str] = mapped_column(sa.String(255))
    id_token_type: Mapped[str] = mapped_column(sa.String(20))
    # The token's verdict (Accepted, Blocked, ..., Unknown), or the
    # RequestBatterySwap answer (Accepted, Rejected, Failed).
    status: Mapped[str] = mapped_column(sa.String(16))
    batteries: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EventStream(Base):
    """A periodic event stream a station opened (OpenPeriodicEventStream) for
    one of its monitors, until it closes it (ClosePeriodicEventStream)."""

    __tablename__ = "event_streams"
    __table_args__ = (
        sa.UniqueConstraint("station_id", "stream_id", name="uq_event_streams_station_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    stream_id: Mapped[int] = mapped_column(sa.Integer)
    variable_monitoring_id: Mapped[int] = mapped_column(sa.Integer)
    interval: Mapped[int | None] = mapped_column(sa.Integer)
    values: Mapped[int | None] = mapped_column(sa.Integer)
    # Open, Closed.
    status: Mapped[str] = mapped_column(sa.String(8))
    messages: Mapped[int] = mapped_column(sa.Integer, default=0)
    points: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_data_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class EventStreamData(Base):
    """One NotifyPeriodicEventStream, packed: `data` is the message's points
    as compact JSON [[t, v], ...] (t: seconds after basetime), so a
    high-rate stream costs one row per message, not one per value."""

    __tablename__ = "event_stream_data"
    __table_args__ = (sa.Index("ix_event_stream_data_stream", "stream_ref", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    stream_ref: Mapped[int] = mapped_column(sa.ForeignKey("event_streams.id", ondelete="CASCADE"))
    basetime: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    pending: Mapped[int] = mapped_column(sa.Integer)
    count: Mapped[int] = mapped_column(sa.Integer)
    data: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- OCPP 2.1: V2X ---
class V2xTokenPermission(Base):
    """The energy transfer modes a token's contract allows (OCPP 2.1 Q01:
    AuthorizeResponse.allowedEnergyTransfer, NotifyAllowedEnergyTransfer).
    No row: the token may charge only (Volta tells the station nothing)."""

    __tablename__ = "v2x_token_permissions"

    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    # EnergyTransferModeEnumType values, e.g. ["AC_BPT", "DC_BPT"].
    modes: Mapped[list[str]] = mapped_column(sa.JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class V2xSession(Base):
    """What Volta knows of an EVSE's bidirectional session: the modes the EV
    offered (NotifyEVChargingNeeds), the modes Volta allowed, and the EV's
    most discharge current, for the allocator. One row per EVSE, replaced by
    each session."""

    __tablename__ = "v2x_sessions"

    station_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    evse_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    transaction_id: Mapped[str | None] = mapped_column(sa.String(36))
    available: Mapped[list[str] | None] = mapped_column(sa.JSON)
    requested: Mapped[str | None] = mapped_column(sa.String(20))
    allowed: Mapped[list[str] | None] = mapped_column(sa.JSON)
    # Accepted / Rejected / Failed: the station's answer to NotifyAllowedEnergyTransfer.
    allowed_status: Mapped[str | None] = mapped_column(sa.String(20))
    ev_max_discharge_a: Mapped[float | None] = mapped_column(sa.Float)
    ev_max_discharge_w: Mapped[float | None] = mapped_column(sa.Float)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class V2xDynamicValue(Base):
    """The dynamic values (limit, dischargeLimit, setpoint, ...) of a 2.1
    Dynamic charging profile, as last sent with UpdateDynamicSchedule: what
    Volta answers a PullDynamicScheduleUpdate with."""

    __tablename__ = "v2x_dynamic_values"

    station_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    profile_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    # ChargingScheduleUpdateType, as sent.
    values: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The last time the station pulled them (PullDynamicScheduleUpdate).
    pulled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


# --- OCPP 2.1: DER control ---
class DerControl(Base):
    """A DER control of a 2.1 station (block R): one row per (station,
    controlId), as Volta set it (SetDERControl, with the station's answer)
    and/or as the station last reported it (ReportDERControl), with whether
    it runs (NotifyDERStartStop) and whether another control superseded it.

    status: Requested (sent, no answer yet), the SetDERControl answer
    (Accepted, Rejected, NotSupported, NotFound), Failed (no answer),
    Reported (known only from the station's report)."""

    __tablename__ = "der_controls"
    __table_args__ = (
        sa.UniqueConstraint("station_id", "control_id", name="uq_der_controls_station_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    control_id: Mapped[str] = mapped_column(sa.String(36))
    # DERControlEnumType (VoltVar, FreqDroop, LimitMaxDischarge, ...).
    control_type: Mapped[str] = mapped_column(sa.String(32))
    is_default: Mapped[bool] = mapped_column(sa.Boolean)
    # What Volta sent: the setting object as on the wire (curve, freqDroop, ...).
    setting: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16))
    status_info: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # api (an operator), station (known only from a report).
    source: Mapped[str] = mapped_column(sa.String(16))
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    # What the station reported in its latest report that covered this control.
    reported: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    superseded: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # The controlId that superseded it, when a SetDERControl answer or a
    # NotifyDERStartStop said so (a report says only isSuperseded).
    superseded_by: Mapped[str | None] = mapped_column(sa.String(36))
    # NotifyDERStartStop: started (True), ended (False), never told (None).
    active: Mapped[bool | None] = mapped_column(sa.Boolean)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DerReport(Base):
    """A GetDERControl request: its id is the requestId; the ReportDERControl
    parts that answered it are counted and their controls summarised."""

    __tablename__ = "der_reports"
    __table_args__ = (sa.Index("ix_der_reports_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    # What was asked: control_type, is_default, control_id (none: everything).
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Requested, the GetDERControl answer (Accepted, Rejected, NotSupported,
    # NotFound) or Failed.
    status: Mapped[str] = mapped_column(sa.String(16))
    # [{control_id, control_type, is_default, is_superseded}] of every part.
    controls: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    parts: Mapped[int] = mapped_column(sa.Integer, default=0)
    complete: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    command_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DerAlarm(Base):
    """A NotifyDERAlarm: a grid event that made a DER control act (started)
    until the station reports alarmEnded (ended_at set)."""

    __tablename__ = "der_alarms"
    __table_args__ = (sa.Index("ix_der_alarms_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    control_type: Mapped[str] = mapped_column(sa.String(32))
    # GridEventFaultEnumType (OverVoltage, UnderFrequency, ...), if told.
    grid_event_fault: Mapped[str | None] = mapped_column(sa.String(32))
    extra_info: Mapped[str | None] = mapped_column(sa.String(200))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_info: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DerStartStop(Base):
    """A NotifyDERStartStop: a DER control started or ended in the station."""

    __tablename__ = "der_start_stops"
    __table_args__ = (sa.Index("ix_der_start_stops_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    control_id: Mapped[str] = mapped_column(sa.String(36))
    started: Mapped[bool] = mapped_column(sa.Boolean)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    superseded_ids: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# Core tables, for statements built once and run on hot paths.
STATIONS = cast(sa.Table, Station.__table__)
CONNECTORS = cast(sa.Table, Connector.__table__)
TRANSACTIONS = cast(sa.Table, Transaction.__table__)
METER_VALUES = cast(sa.Table, MeterValue.__table__)
FRAMES = cast(sa.Table, Frame.__table__)
EVENTS = cast(sa.Table, Event.__table__)
TRANSACTION_EVENTS = cast(sa.Table, TransactionEvent.__table__)
