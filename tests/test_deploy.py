"""The deployment example (deploy/): the files parse, the instance config passes Dagster's own
validation, the run configs pass their executor's schema (when dagster-k8s / dagster-celery are
importable: deploy/requirements.txt, not the project's environment), and IOP_EXECUTOR picks the
executor. Nothing here needs Postgres, Kubernetes, a Celery broker or Spark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from dagster import Field
from dagster._config import post_process_config, validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.config import pg_config
from dagster._serdes import ConfigurableClassData

from pipelines.executors import executor_from_env

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
RUN_CONFIGS = {"k8s": "dagster_k8s", "celery": "dagster_celery"}
# what the instance config reads from the environment
INSTANCE_ENV = {
    "DAGSTER_PG_HOST": "db.example.org",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "secret",
    "DAGSTER_PG_DB": "dagster",
}


def load(name: str):
    return yaml.safe_load((DEPLOY / name).read_text())


@pytest.mark.parametrize("name", ["dagster.yaml", "run_config/k8s.yaml", "run_config/celery.yaml"])
def test_yaml_parses(name):
    assert isinstance(load(name), dict)


def test_instance_config_validates(monkeypatch, tmp_path):
    for key, value in INSTANCE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IOP_COMPUTE_LOGS_DIR", str(tmp_path / "compute_logs"))
    # The whole file, storage included: Dagster's schema holds the postgres fields itself, so
    # this needs no dagster-postgres (the storage class is not imported here).
    config, instance_class = dagster_instance_config(str(DEPLOY))
    assert instance_class is None
    # the {env: ...} values resolve as the storage class will resolve them
    postgres = post_process_config(
        Field(pg_config()).config_type, config["storage"]["postgres"]
    ).value["postgres_db"]
    assert (postgres["hostname"], postgres["port"]) == ("db.example.org", 5432)
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["telemetry"]["enabled"] is False
    # The configurable classes import and accept their config (rehydrate validates it against
    # each class's own schema, then builds the object).
    for key in ("run_coordinator", "run_launcher", "compute_logs"):
        data = config[key]
        config_yaml = yaml.safe_dump(data.get("config", {}))
        ConfigurableClassData(data["module"], data["class"], config_yaml).rehydrate(object)


def test_instance_config_typo_is_caught(monkeypatch, tmp_path):
    """The validation above means something: a misspelt key fails it."""
    for key, value in INSTANCE_ENV.items():
        monkeypatch.setenv(key, value)
    text = (DEPLOY / "dagster.yaml").read_text().replace("default_limit:", "default_limt:")
    (tmp_path / "dagster.yaml").write_text(text)
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(tmp_path))


@pytest.mark.parametrize("executor", sorted(RUN_CONFIGS))
def test_run_config_validates(executor):
    module = RUN_CONFIGS[executor]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (deploy/requirements.txt, not the project's)")
    definition = executor_named(executor)
    config = load(f"run_config/{executor}.yaml")["execution"]["config"]
    result = validate_config(definition.config_schema.as_field().config_type, config)
    assert result.success, [error.message for error in result.errors]


def executor_named(name: str):
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    from dagster_celery import celery_executor

    return celery_executor


@pytest.mark.parametrize(
    "value, expected",
    [("", "in_process"), ("in_process", "in_process"), ("multiprocess", "multiprocess")],
)
def test_executor_from_env(monkeypatch, value, expected):
    monkeypatch.setenv("IOP_EXECUTOR", value)
    monkeypatch.delenv("IOP_EXECUTOR_CONFIG", raising=False)
    assert executor_from_env().name == expected


def test_executor_from_env_rejects_unknown(monkeypatch):
    monkeypatch.setenv("IOP_EXECUTOR", "slurm")
    with pytest.raises(ValueError, match="IOP_EXECUTOR"):
        executor_from_env()


@pytest.mark.parametrize("executor", sorted(RUN_CONFIGS))
def test_executor_configured_from_file(monkeypatch, executor):
    if importlib.util.find_spec(RUN_CONFIGS[executor]) is None:
        pytest.skip(f"{RUN_CONFIGS[executor]} is not installed (deploy/requirements.txt)")
    monkeypatch.setenv("IOP_EXECUTOR", executor)
    monkeypatch.setenv("IOP_EXECUTOR_CONFIG", str(DEPLOY / "run_config" / f"{executor}.yaml"))
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://localhost:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://localhost:6379/1")
    definition = executor_from_env()
    assert definition.name == executor_named(executor).name
    # configured: the run config needs no `execution` block any more
    assert not definition.config_schema.as_field().is_required
