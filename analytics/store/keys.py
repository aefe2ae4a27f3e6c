"""The app's secrets, kept outside the data: pseudonym, audit-chain and model-signing keys.

Each key comes from its environment variable (``TAILOR_PSEUDONYM_KEY``,
``TAILOR_AUDIT_KEY``, ``TAILOR_MODEL_KEY``; a deployment's secret manager sets
them), else from a key file: ``TAILOR_KEY_FILE``, by default ``<database>.keys``
beside the database. The file is created on first use with mode 0600 and three
random 32-byte keys (64 hex characters, used as their UTF-8 bytes), and is
refused when other users may read it. A key shorter than 32 bytes is refused.

Why three keys: each protects something different (docs/security.md). The
pseudonym key makes customer pseudonyms unlinkable without it; the audit key
seals the audit log's HMAC chain; the model key signs model artifacts before
they are unpickled. Rotating one must not disturb the others.

Databases made before this module kept the pseudonym key in ``dataset_meta``.
:func:`load_keys` takes that stored key, writes it to the key file (so the
pseudonyms stay the same) and the store then deletes it from the database.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

MIN_KEY_BYTES = 32
KEY_FILE_ENV = "TAILOR_KEY_FILE"
KEY_NAMES: tuple[str, ...] = ("pseudonym_key", "audit_key", "model_key")
KEY_ENV: dict[str, str] = {
    "pseudonym_key": "TAILOR_PSEUDONYM_KEY",
    "audit_key": "TAILOR_AUDIT_KEY",
    "model_key": "TAILOR_MODEL_KEY",
}

MSG_SHORT_KEY = (
    "The {name} from {source} is {n} bytes long; at least {minimum} are required. "
    "Use a random value, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`."
)
MSG_KEY_FILE_OPEN = (
    "The key file {path} can be read by other users (mode {mode:o}). It holds the app's secrets: "
    "run `chmod 600 {path}` and start again."
)
MSG_KEY_FILE_BAD = "The key file {path} is not a Tailor key file ({reason}). Restore it from a backup."
MSG_KEY_CONFLICT = (
    "The database holds a pseudonym key that differs from the one in {path}: using the file's key "
    "would change every customer pseudonym. Point {env} at this database's own key file, or move "
    "{path} away so that the database's key is moved into a new one."
)


class SecretKeyError(ValueError):
    """A key is missing, too short or unsafe; the message says how to fix it."""


@dataclass(frozen=True, repr=False)
class KeyRing:
    """The three keys as bytes, and where they came from (never printed)."""

    pseudonym: bytes
    audit: bytes
    model: bytes
    sources: tuple[str, ...]

    def __repr__(self) -> str:  # the keys must never reach a log or an error message
        return f"KeyRing(sources={self.sources!r})"


def default_key_file(db_path: str | os.PathLike[str]) -> Path | None:
    """``TAILOR_KEY_FILE``, else ``<database>.keys`` beside a file database; ``None`` for ``:memory:``."""
    configured = os.environ.get(KEY_FILE_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    if str(db_path) == ":memory:":
        return None
    path = Path(db_path).expanduser().resolve()
    return path.with_name(f"{path.stem}.keys")


def _checked(name: str, value: str, source: str) -> bytes:
    raw = value.encode()
    if len(raw) < MIN_KEY_BYTES:
        raise SecretKeyError(
            MSG_SHORT_KEY.format(name=name, source=source, n=len(raw), minimum=MIN_KEY_BYTES)
        )
    return raw


def _read_key_file(path: Path) -> dict[str, str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretKeyError(MSG_KEY_FILE_OPEN.format(path=path, mode=mode))
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SecretKeyError(MSG_KEY_FILE_BAD.format(path=path, reason=type(exc).__name__)) from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in KEY_NAMES):
        raise SecretKeyError(
            MSG_KEY_FILE_BAD.format(path=path, reason="it lacks one of " + ", ".join(KEY_NAMES))
        )
    return data


def _create_key_file(path: Path, *, pseudonym_key: str | None) -> None:
    """Write a new key file atomically with mode 0600; another process may win the race."""
    keys = {name: secrets.token_hex(MIN_KEY_BYTES) for name in KEY_NAMES}
    if pseudonym_key is not None:
        keys["pseudonym_key"] = pseudonym_key
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    # O_EXCL with 0600: the secret never exists, even for a moment, with a looser mode.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(keys, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        # A hard link fails if the name exists: whoever links first wins, nobody overwrites.
        try:
            os.link(partial, path)
        except FileExistsError:
            pass
    finally:
        partial.unlink(missing_ok=True)


def load_keys(
    db_path: str | os.PathLike[str], *, stored_pseudonym_key: str | None = None
) -> tuple[KeyRing, list[str]]:
    """Resolve the app's keys for the database at ``db_path``.

    Parameters
    ----------
    db_path : str or path-like
        The database file, or ``":memory:"``.
    stored_pseudonym_key : str, optional
        A pseudonym key found in the database (made before keys moved out of it). It is
        written to a new key file, so that pseudonyms stay the same.

    Returns
    -------
    (KeyRing, list of str)
        The keys, and notices for the operator (a created key file, a moved key).

    Raises
    ------
    SecretKeyError
        For a key shorter than 32 bytes, a key file others can read or that is malformed,
        or a stored pseudonym key that differs from the key file's.
    """
    notices: list[str] = []
    path = default_key_file(db_path)
    needs_file = any(not os.environ.get(KEY_ENV[name]) for name in KEY_NAMES)
    from_file: dict[str, str] = {}
    if path is None:
        # An in-memory database (tests, one-off scripts) gets keys that live as long as it does.
        from_file = {name: secrets.token_hex(MIN_KEY_BYTES) for name in KEY_NAMES}
    elif needs_file or stored_pseudonym_key is not None:
        if not path.exists():
            pseudonym_moves = stored_pseudonym_key is not None and not os.environ.get(
                KEY_ENV["pseudonym_key"]
            )
            _create_key_file(path, pseudonym_key=stored_pseudonym_key if pseudonym_moves else None)
            notices.append(f"Created the key file {path} (mode 0600). Back it up apart from the database.")
            if pseudonym_moves:
                notices.append(
                    f"Moved the pseudonym key from the database to {path}: pseudonyms are unchanged."
                )
        from_file = _read_key_file(path)
        if (
            stored_pseudonym_key is not None
            and not os.environ.get(KEY_ENV["pseudonym_key"])
            and from_file["pseudonym_key"] != stored_pseudonym_key
        ):
            raise SecretKeyError(MSG_KEY_CONFLICT.format(path=path, env=KEY_FILE_ENV))
    values: dict[str, bytes] = {}
    sources: list[str] = []
    for name in KEY_NAMES:
        env_value = os.environ.get(KEY_ENV[name])
        if env_value:
            values[name] = _checked(name, env_value, f"${KEY_ENV[name]}")
            sources.append(f"{name}: ${KEY_ENV[name]}")
        else:
            values[name] = _checked(name, from_file[name], str(path) if path else "memory")
            sources.append(f"{name}: {path if path else 'memory (in-memory database)'}")
    ring = KeyRing(
        pseudonym=values["pseudonym_key"],
        audit=values["audit_key"],
        model=values["model_key"],
        sources=tuple(sources),
    )
    return ring, notices
