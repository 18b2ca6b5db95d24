"""Imports every block so that its handlers register themselves."""

from volta.blocks import HANDLERS
from volta.blocks.authorization import v16 as _auth16
from volta.blocks.authorization import v201 as _auth201
from volta.blocks.data_transfer import handlers as _data_transfer
from volta.blocks.local_list import service as _local_list
from volta.blocks.provisioning import v16 as _prov16
from volta.blocks.provisioning import v201 as _prov201
from volta.blocks.reservations import v201 as _reservations201
from volta.blocks.tariffs import hooks as _tariffs
from volta.blocks.transactions import v16 as _tx16
from volta.blocks.transactions import v201 as _tx201

__all__ = ["HANDLERS"]
_ = (
    _auth16,
    _auth201,
    _prov16,
    _prov201,
    _tx16,
    _tx201,
    _data_transfer,
    _local_list,
    _reservations201,
    _tariffs,
)
