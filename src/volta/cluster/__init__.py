"""Several Volta nodes on one PostgreSQL and one NATS server: `ClusterNode`
(this process as a node: heartbeats, leases, the leader) and
`ClusterRouter` (where every station is, commands to the node that holds
it, takeover). Wired by `volta.app` when `nats_url` is set; see
docs/scale-out.md."""

from volta.cluster.node import ClusterNode
from volta.cluster.router import ClusterRouter

__all__ = ["ClusterNode", "ClusterRouter"]
