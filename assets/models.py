"""One asset per SQL model in sql/<layer>/<name>.sql (staging, audit, core, marts).

Assets orchestrate; the logic is in the SQL. Dependencies come from the tables each model reads.
"""


from dagster import AssetKey, MaterializeResult, asset

from assets.ingest import REGISTRY_KEY, SEEDS_KEY
from iop import dictionary, kpis
from iop.models import Model, discover, run_model
from pipelines.resources import WarehouseResource

# Statements that keep audit.landed_files in step once rows are accounted for.
_AFTER = {
    "audit.row_accounting": """
        update audit.landed_files as f
        set rows_accepted = a.rows_accepted, rows_quarantined = a.rows_quarantined
            , rows_superseded = a.rows_superseded
        from audit.row_accounting as a
        where a.file_sha256 = f.file_sha256
    """,
}


def model_key(table: str) -> AssetKey:
    return AssetKey(table.split("."))


def upstream_keys(model: Model) -> list[AssetKey]:
    keys = set()
    for ref in model.references:
        schema, name = ref.split(".")
        if schema == "raw" or ref == "audit.landed_files":
            keys.add(REGISTRY_KEY)
        elif schema == "seeds":
            keys.add(SEEDS_KEY)
        elif ref in discover():
            keys.add(model_key(ref))
    return sorted(keys, key=lambda k: k.to_user_string())


def _documentation(model: Model):
    """The model's column docs (sql/<layer>/<name>.yml), where it has them."""
    if not dictionary.sidecar_path(model.name).exists() or model.layer != "marts":
        return None
    return dictionary.load(model.name)


def build_model_asset(model: Model):
    needs_pseudonyms = "pseudonymize(" in model.sql
    doc = _documentation(model)
    metadata = {"sql_file": str(model.path.relative_to(model.path.parents[2]))}
    if doc is not None:
        metadata["dagster/column_schema"] = dictionary.table_schema(doc)

    @asset(
        key=model_key(model.table),
        deps=upstream_keys(model),
        group_name=model.layer,
        kinds={"duckdb", "sql"},
        pool="duckdb_warehouse",
        description=model.description,
        metadata=metadata,
    )
    def _model(warehouse_db: WarehouseResource) -> MaterializeResult:
        with warehouse_db.connect(pseudonyms=needs_pseudonyms) as con:
            stats = run_model(con, model)
            if doc is not None:
                dictionary.apply_comments(con, model.table, doc)
            if model.table in _AFTER:
                con.execute(_AFTER[model.table])
            extra = kpis.latest_kpis(con) if model.table == "marts.program_quality_monthly" else {}
        # KPI values as metadata: the Dagster UI plots numeric metadata across materializations
        return MaterializeResult(
            metadata={"rows": stats["rows"], "seconds": stats["seconds"], **extra}
        )

    return _model


model_assets = [build_model_asset(model) for model in discover().values()]
