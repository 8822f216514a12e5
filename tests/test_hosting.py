"""Hosted for real: the cache goes to persistent storage (/data) when there is some, the operator is told
when there is none, and a restarted app (even with its local index wiped) finds every job again.

A temporary folder stands in for /data (``settings.PERSISTENT_ROOT``) and another for the container's
local disk (``XDG_CACHE_HOME``, where the SQLite index goes when the data is on /data).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

import akool_ui.settings as settings_module
from akool_ui.bootstrap import build_studio
from akool_ui.settings import CACHE_FOLDER, Settings, _default_cache_dir

SPACE = {"SPACE_ID": "someone/akool-studio"}


@pytest.fixture()
def data_root(tmp_path, monkeypatch):
    """A writable folder standing in for /data, and a separate 'local disk' for the index."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setattr(settings_module, "PERSISTENT_ROOT", root)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "local"))
    return root


@pytest.fixture()
def no_data_root(tmp_path, monkeypatch):
    """No /data at all; the working directory is a temporary one (Spaces' default is ./.cache)."""
    monkeypatch.setattr(settings_module, "PERSISTENT_ROOT", tmp_path / "missing")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def read_only_dir(tmp_path):
    """A folder nobody may write in. Root writes anywhere a mode allows nothing, so as root it is a
    read-only tmpfs mount (skipped where mounting is not allowed)."""
    path = tmp_path / "read-only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("running as root without permission to mount: cannot make a read-only folder")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


# --- where the cache goes -------------------------------------------------------------------------------


@pytest.mark.parametrize("env", [{}, SPACE, {"SPACE_HOST": "someone-akool-studio.hf.space"}])
def test_a_writable_persistent_root_is_chosen_on_spaces_and_anywhere_else(tmp_path, env):
    root = tmp_path / "data"
    root.mkdir()
    assert _default_cache_dir(env, persistent_root=root) == root / CACHE_FOLDER


def test_a_missing_root_or_a_file_keeps_todays_defaults(tmp_path):
    for root in (tmp_path / "missing", tmp_path / "a-file"):
        if root.name == "a-file":
            root.write_text("not a folder")
        assert _default_cache_dir(SPACE, persistent_root=root) == Path(".cache") / CACHE_FOLDER
        env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
        assert _default_cache_dir(env, persistent_root=root) == tmp_path / "xdg" / CACHE_FOLDER


def test_a_read_only_root_is_not_chosen(read_only_dir, tmp_path):
    with pytest.raises(OSError):
        (read_only_dir / "probe").write_text("x")  # really read-only, or this test proves nothing
    assert _default_cache_dir(SPACE, persistent_root=read_only_dir) == Path(".cache") / CACHE_FOLDER
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert _default_cache_dir(env, persistent_root=read_only_dir) == tmp_path / "xdg" / CACHE_FOLDER


def test_from_env_uses_the_root_and_akool_cache_dir_still_wins(data_root, tmp_path):
    assert Settings.from_env({}).cache_dir == data_root / CACHE_FOLDER
    on_space = Settings.from_env(SPACE)
    assert on_space.cache_dir == data_root / CACHE_FOLDER and not on_space.ephemeral_cache
    chosen = Settings.from_env({**SPACE, "AKOOL_CACHE_DIR": str(tmp_path / "mine")})
    assert chosen.cache_dir == tmp_path / "mine" and not chosen.ephemeral_cache


def test_only_a_space_without_persistent_storage_is_ephemeral(no_data_root, tmp_path):
    assert Settings.from_env(SPACE).ephemeral_cache
    assert Settings.from_env({"SPACE_HOST": "x.hf.space"}).ephemeral_cache
    assert not Settings.from_env({}).ephemeral_cache, "off Spaces, ~/.cache survives a restart"
    assert not Settings.from_env({**SPACE, "AKOOL_CACHE_DIR": str(tmp_path / "mine")}).ephemeral_cache


# --- telling the operator --------------------------------------------------------------------------------


def test_a_space_without_persistent_storage_says_so_in_the_log_and_the_banner(no_data_root, caplog):
    from akool_ui.ui.layout import _banner

    caplog.set_level(logging.INFO, logger="akool_ui.bootstrap")
    built = build_studio(Settings.from_env({**SPACE, "AKOOL_DEMO_SPEED": "50"}))
    try:
        assert built.studio.store.cache_dir == no_data_root / ".cache" / CACHE_FOLDER
        text, _ = _banner(built.studio)
    finally:
        built.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no persistent storage" in warnings[0]
    assert "lost on every restart" in warnings[0] and "AKOOL_CACHE_DIR" in warnings[0]
    assert "Storage Bucket" in warnings[0] and str(settings_module.PERSISTENT_ROOT) in warnings[0]
    # the visitor hears what it means for them; the operator's fix stays in the log
    assert "keeps nothing across restarts" in text and "AKOOL_CACHE_DIR" not in text and "/data" not in text


def test_a_space_with_persistent_storage_does_not_warn(data_root, caplog):
    from akool_ui.ui.layout import _banner

    caplog.set_level(logging.INFO, logger="akool_ui.bootstrap")
    built = build_studio(Settings.from_env({**SPACE, "AKOOL_DEMO_SPEED": "50"}))
    try:
        store = built.studio.store
        assert store.cache_dir == data_root / CACHE_FOLDER and store.index_is_local
        assert not (store.cache_dir / "cache.db").exists(), "SQLite never lives on the persistent mount"
        text, _ = _banner(built.studio)
    finally:
        built.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "restarts" not in text
    assert f"index on local disk in {store.index_dir}" in caplog.text


# --- a restart finds everything -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_restarted_app_finds_its_jobs_even_with_the_local_index_wiped(data_root):
    gradio_client = pytest.importorskip("gradio_client")
    from akool_ui.bootstrap import launch_app

    settings = Settings.from_env({"AKOOL_DEMO_SPEED": "25", "AKOOL_POLL_INTERVAL": "0.2"})
    assert settings.cache_dir == data_root / CACHE_FOLDER

    def started():
        return launch_app(settings, host="127.0.0.1", port=None, quiet=True)

    def images(job: dict) -> list[tuple[bytes, bytes]]:
        return [(requests.get(i["original_url"], timeout=10).content, Path(i["preview"]).read_bytes())
                for i in job["images"]]

    running = started()
    try:
        client = gradio_client.Client(running.local_url, verbose=False)
        made = client.predict(prompt="A harbour at night", api_name="/generate")
        session, job = made["session"], made["jobs"][0]
        assert job["state"] == "succeeded" and job["images"]
        first = images(job)
        index_dir = running.studio.store.index_dir
        assert running.studio.store.index_is_local and not index_dir.is_relative_to(data_root)
    finally:
        running.close()

    for wipe in (False, True):  # a plain restart, then one whose container lost its local disk
        if wipe:
            shutil.rmtree(index_dir)
        running = started()
        try:
            client = gradio_client.Client(running.local_url, verbose=False)
            again = client.predict(job_id=job["id"], session=session, api_name="/job")["jobs"][0]
            assert again["state"] == "succeeded" and again["prompt"] == "A harbour at night"
            assert images(again) == first
            studio = running.studio
            page = studio.history(studio.owner_for(None, session))
            assert [r.id for r in page.items] == [job["id"]]
        finally:
            running.close()
