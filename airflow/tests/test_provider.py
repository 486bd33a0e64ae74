"""The package is an Airflow provider: Airflow lists it, validates its metadata and declares its
configuration section, on every Airflow line hack/airflow-test.sh runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from importlib.metadata import entry_points, version

import pytest
from conftest import AIRFLOW_3

from sparkcm_airflow import __version__
from sparkcm_airflow.config import OPTIONS, SECTION, Settings
from sparkcm_airflow.get_provider_info import get_provider_info

PACKAGE = "sparkcm-airflow"


def _airflow(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__SPARKCM_HOOK__")}
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_entry_point_is_the_providers_one():
    eps = {ep.name: ep.value for ep in entry_points(group="apache_airflow_provider") if ep.dist.name == PACKAGE}
    assert eps == {"provider_info": "sparkcm_airflow.get_provider_info:get_provider_info"}


def test_provider_info_passes_airflows_own_schema():
    from importlib.resources import files

    import jsonschema

    schema = json.loads((files("airflow") / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_provider_info_names_the_installed_package_and_version():
    info = get_provider_info()
    assert info["package-name"] == PACKAGE
    assert info["versions"] == [__version__] == [version(PACKAGE)]


def test_every_setting_is_a_declared_option_with_the_settings_default():
    options = get_provider_info()["config"][SECTION]["options"]
    assert set(options) == {f.name for f in fields(Settings)} == set(OPTIONS)
    defaults = Settings()
    for name, option in options.items():
        value = getattr(defaults, name)
        if value is None:
            value = ""
        if isinstance(value, tuple):
            value = ",".join(value) if name == "operators" else " ".join(value)
        assert option["default"] == str(value), name


def test_declared_hooks_operators_and_plugin_import():
    import importlib

    info = get_provider_info()
    for kind in ("hooks", "operators"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for plugin in info["plugins"]:
        module, _, cls = plugin["plugin-class"].rpartition(".")
        assert getattr(importlib.import_module(module), cls).name == plugin["name"]


def test_providers_manager_registers_it_with_its_version():
    from airflow.providers_manager import ProvidersManager

    provider = ProvidersManager().providers[PACKAGE]
    assert provider.version == __version__
    assert provider.data["name"] == "sparkcm-hook"


@pytest.mark.parametrize("fmt", ["json"])
def test_airflow_providers_list_shows_it_with_its_version(fmt):
    listed = {p["package_name"]: p["version"] for p in json.loads(_airflow("providers", "list", "-o", fmt))}
    assert listed.get(PACKAGE) == __version__, listed


def test_airflow_config_list_shows_its_section_and_defaults():
    args = ["config", "list", "--section", SECTION, "--include-descriptions"]
    if AIRFLOW_3:  # Airflow 3 hides values unless asked; Airflow 2 has no such flag
        args.append("--show-values")
    out = _airflow(*args)
    assert f"[{SECTION}]" in out
    # Options left at their default are listed commented out ("# name = default").
    listed = {line.lstrip("# ").rstrip() for line in out.splitlines()}
    for name, (_, default, _) in OPTIONS.items():
        assert f"{name} = {default}".rstrip() in listed, (name, out[-2000:])
