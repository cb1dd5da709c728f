"""dbt-duckdb plugin (profiles.yml `plugins`): registers `pseudonymize(text)` (a SQL macro) on
every connection dbt opens, so models compute person keys without the key ever appearing in SQL,
compiled files or dbt's logs. The key is read from the environment when the connection opens
(iop.settings)."""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from iop.pseudonym import register_pseudonymizer


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        # dbt refuses a key other than the warehouse's, but does not record one: `make docs` or
        # a hand-run dbt with the demo key must not claim a warehouse the pipeline then refuses
        # (the pipeline's first check connection records it, before core.persons is built)
        register_pseudonymizer(conn, record=False)
