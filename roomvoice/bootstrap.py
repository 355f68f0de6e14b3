"""Prepare the database for a run: resolve it, migrate it, create the first admin on first run.

On an empty database an ``admin`` user with a random password and an API key is created; both
are written once to ``<data_dir>/admin-credentials.txt`` (mode 0600) and never logged.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from roomvoice.config import AppConfig

logger = logging.getLogger(__name__)

CREDENTIALS_FILE = "admin-credentials.txt"


@dataclass(frozen=True)
class StoreReady:
    """A migrated database.

    Attributes:
        url: libpq URL the deployments connect to.
        credentials_file: where first-run admin credentials were written (None if users existed).
    """

    url: str
    credentials_file: Path | None = None


def prepare_store(cfg: AppConfig) -> StoreReady:
    """Resolve (start the embedded server if needed), migrate and bootstrap the database.

    Raises:
        roomvoice.store.errors.StoreUnavailableError: the database cannot be reached or started.
    """
    from roomvoice.store.credentials import ApiKeyStore
    from roomvoice.store.db import Database
    from roomvoice.store.server import resolve_database_url
    from roomvoice.store.users import UserStore

    data_dir = Path(cfg.store.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    url = resolve_database_url(cfg.store.url, data_dir)
    db = Database(url, cfg.store.pool_min, cfg.store.pool_max)
    try:
        db.migrate()
        users = UserStore(db)
        if users.list_users():
            return StoreReady(url)
        password = secrets.token_urlsafe(12)
        admin = users.create_user("admin", password, "admin")
        key = ApiKeyStore(db).create(admin, "first run").key
        path = data_dir / CREDENTIALS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"username: admin\npassword: {password}\napi_key: {key}\n")
        logger.warning("first run: created user 'admin'; password and API key are in %s", path)
        return StoreReady(url, path)
    finally:
        db.close()
