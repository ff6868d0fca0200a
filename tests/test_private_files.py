"""The embedded default's data files are the owner's alone: the SQLite database (with its WAL
and shared-memory files) and the generated secret key are 0600, also on an install that left
them readable by everyone."""

import os
import stat
import subprocess

from tests.live import MANAGE, ROOT


def _env(var_dir) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SQLITE_PATH")}
    env.update(MURANO_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="murano.settings")
    return env


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_install_writes_its_database_and_secret_key_for_its_owner_only(tmp_path):
    subprocess.run([*MANAGE, "migrate", "--noinput", "-v0"], env=_env(tmp_path), cwd=ROOT, check=True)

    files = ["murano.sqlite3", "murano.sqlite3-wal", "murano.sqlite3-shm", "secret_key"]
    assert {name: oct(_mode(tmp_path / name)) for name in files if (tmp_path / name).exists()} == {
        name: "0o600" for name in files if (tmp_path / name).exists()
    }
    assert (tmp_path / "murano.sqlite3").exists() and (tmp_path / "secret_key").exists()


def test_an_older_install_readable_by_everyone_is_tightened_at_start(tmp_path):
    subprocess.run([*MANAGE, "migrate", "--noinput", "-v0"], env=_env(tmp_path), cwd=ROOT, check=True)
    database = tmp_path / "murano.sqlite3"
    database.chmod(0o644)

    subprocess.run([*MANAGE, "check"], env=_env(tmp_path), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    assert oct(_mode(database)) == "0o600"
