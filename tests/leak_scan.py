"""Capture everything a Streamlit AppTest run sends to the browser and search it for personal data.

The capture records every ``ForwardMsg`` the script enqueues (serialized at once, so a later
composition or clearing of the queue hides nothing) and every file put in the media file manager
(a download button's bytes are fetched from there by URL). The scan walks each message's protobuf
fields and decodes what it carries: Arrow tables (cell by cell), JSON (Plotly specs with their
base64 typed arrays, ``st.json``), ``data:`` URLs (an iframe's report), and the downloaded files.

What counts as a hit is built to have no false positives on the sample bank without going blind:

- a customer number is a run of digits equal to one, in any text (element ids and widget keys
  included: they are text); a number (integer, or an integral float) equal to one counts where it
  sits in an id-like field (a column, proto field or JSON key named like ``customer``, ``id``,
  ``customdata``, ``text``), or where a whole column or array of two or more distinct values are all
  customer numbers. A lone number elsewhere (an income of 105,000 on a chart axis) is not a hit:
  the sample bank's customer numbers 100001..120000 are a range that amounts also fall into.
- a full name is a customer's first name followed by their last name (all its words), as words;
  an e-mail address is an exact token; a phone number is a run of digits, spaces and dashes whose
  digits are a customer's (``+31 6 …``, ``+316…`` and ``06-…`` are one number); a birth date is an
  ISO date token (and a date cell) equal to one.
- digits inside a long lowercase hexadecimal token (a pseudonym ``C-xxxxxxxxxxxx``, an HMAC, a
  SHA-256 or an element id's hash) are never read as a number or a phone: those are random hex
  digits, and a six-digit run in them matches a customer number by chance. Only the hash lengths
  the app sends (``HEX_HASH_LENGTHS``) are skipped, so a number glued to some hex still shows.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from unittest import mock

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

# Lengths of the hex hashes the app sends: a pseudonym (12), the truncated hashes of captions (12),
# Streamlit's element-id hashes (32), SHA-1 file ids (40) and SHA-256 digests (64); 16 and 24 for
# other truncations. Digits inside such a token are random, not a number.
HEX_HASH_LENGTHS = frozenset({12, 16, 24, 32, 40, 64})
# A word (proto field, JSON key, column name) that marks an id-like field: a number there is an id.
# Not Plotly's customdata: it carries the hover's values (an income of 105,000 among them), so a
# customdata column counts when it is all customer numbers, like any other array.
ID_WORDS = frozenset({"id", "ids", "customer", "customers", "client", "clients"})
MAX_HITS_PER_KIND = 20

_TOKEN = re.compile(r"[0-9A-Za-z]+")
_HEX = re.compile(r"[0-9a-f]+")
# A run of digits with its decimals, if any; the decimals of another number are not a run of their own.
_NUMBER = re.compile(r"(?<![0-9])(?<![0-9]\.)([0-9]+)(?:\.([0-9]+))?(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_PHONE = re.compile(r"\+?[0-9][0-9 \-]{7,16}[0-9]")
_ISO_DATE = re.compile(r"(?<![0-9])[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])")
_DATA_URL = re.compile(r"data:[\w/+.\-]*;base64,([A-Za-z0-9+/=]+)")
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")


def normalize_phone(text: str) -> str:
    """The digits of a Dutch phone number in national form (``+31 6 1234 5678`` -> ``0612345678``)."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits.startswith("0031"):
        digits = digits[4:]
    elif digits.startswith("31") and len(digits) == 11:
        digits = digits[2:]
    if not digits.startswith("0"):
        digits = "0" + digits
    return digits


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


@dataclass(frozen=True)
class PersonalData:
    """The personal data of a bank's customers, in the forms the scan looks for."""

    customer_numbers: frozenset[str]
    full_names: dict[str, frozenset[tuple[str, ...]]]
    emails: frozenset[str]
    phones: frozenset[str]
    birth_dates: frozenset[str]

    @classmethod
    def from_customers(cls, customers: pl.DataFrame) -> PersonalData:
        """From a ``customers`` table (customer_id, first_name, last_name, email, phone, birth_date)."""
        names: dict[str, set[tuple[str, ...]]] = {}
        for first, last in customers.select("first_name", "last_name").iter_rows():
            first_words, last_words = _words(first or ""), _words(last or "")
            if first_words and last_words:
                names.setdefault(first_words[0], set()).add((*first_words[1:], *last_words))
        return cls(
            customer_numbers=frozenset(str(c) for c in customers.get_column("customer_id").to_list()),
            full_names={first: frozenset(rests) for first, rests in names.items()},
            emails=frozenset(e.lower() for e in customers.get_column("email").drop_nulls().to_list()),
            phones=frozenset(
                normalize_phone(p) for p in customers.get_column("phone").drop_nulls().to_list()
            ),
            birth_dates=frozenset(d.isoformat() for d in customers.get_column("birth_date").drop_nulls()),
        )

    def is_customer_number(self, value) -> bool:
        """Whether a number (an int, or a float with no fraction) is a customer number."""
        if isinstance(value, bool) or value is None:
            return False
        if isinstance(value, float | np.floating):
            if not np.isfinite(value) or value != int(value):
                return False
            value = int(value)
        return isinstance(value, int | np.integer) and str(int(value)) in self.customer_numbers


@dataclass(frozen=True)
class Hit:
    """One piece of personal data found in what was sent, and where."""

    kind: str
    value: str
    where: str


@dataclass
class Capture:
    """Messages and media files recorded while it is active (see :func:`capture`)."""

    messages: list[bytes] = field(default_factory=list)
    files: dict[str, tuple[str, str | None, bytes]] = field(default_factory=dict)

    @property
    def message_bytes(self) -> int:
        """Serialized size of every message."""
        return sum(len(m) for m in self.messages)

    @property
    def file_bytes(self) -> int:
        """Size of every media file (download buttons' data)."""
        return sum(len(data) for _, _, data in self.files.values())


@contextlib.contextmanager
def capture() -> Iterator[Capture]:
    """Record every ForwardMsg enqueued and every media file added while the block runs."""
    recorded = Capture()
    enqueue = ForwardMsgQueue.enqueue
    load = MemoryMediaFileStorage.load_and_get_id

    def recording_enqueue(queue, msg):
        recorded.messages.append(msg.SerializeToString())
        return enqueue(queue, msg)

    def recording_load(storage, path_or_data, mimetype, kind, filename=None):
        file_id = load(storage, path_or_data, mimetype, kind, filename)
        data = storage.get_file(file_id).content
        recorded.files[file_id] = (mimetype, filename, data)
        return file_id

    with (
        mock.patch.object(ForwardMsgQueue, "enqueue", recording_enqueue),
        mock.patch.object(MemoryMediaFileStorage, "load_and_get_id", recording_load),
    ):
        yield recorded


# -- the scan ---------------------------------------------------------------------------------------
class Scanner:
    """Search texts, numbers, tables, JSON and protobuf messages for a bank's personal data."""

    def __init__(self, reference: PersonalData) -> None:
        self.reference = reference
        self.hits: list[Hit] = []
        self._seen: set[tuple[str, str, str]] = set()
        self.texts = 0

    def _hit(self, kind: str, value: str, where: str) -> None:
        # One hit per kind, value and element: a leaked number in 500 points is one finding.
        key = (kind, value, where.split(".", 1)[0])
        if key not in self._seen:
            self._seen.add(key)
            self.hits.append(Hit(kind, value, where))

    # -- text ------------------------------------------------------------------------------------
    def text(self, text: str, where: str) -> None:
        """Customer numbers, names, e-mails, phones and birth dates written in ``text``."""
        if not text:
            return
        self.texts += 1
        ref = self.reference
        # Blank out hashes first: their digits are random (module docstring).
        cleaned = _TOKEN.sub(
            lambda m: (
                " " * len(m.group())
                if len(m.group()) in HEX_HASH_LENGTHS and _HEX.fullmatch(m.group())
                else m.group()
            ),
            text,
        )
        for run, decimals in _NUMBER.findall(cleaned):
            # 114213.77 is an amount; 114213 and 114213.0 are the number itself.
            if run in ref.customer_numbers and not decimals.strip("0"):
                self._hit("customer_number", run, where)
        if "@" in cleaned:
            for email in _EMAIL.findall(cleaned):
                if email.lower() in ref.emails:
                    self._hit("email", email, where)
        for candidate in _PHONE.findall(cleaned):
            if normalize_phone(candidate) in ref.phones:
                self._hit("phone", candidate, where)
        for iso in _ISO_DATE.findall(cleaned):
            if iso in ref.birth_dates:
                self._hit("birth_date", iso, where)
        words = _words(cleaned)
        for i, word in enumerate(words):
            rests = ref.full_names.get(word)
            if rests:
                for rest in rests:
                    if tuple(words[i + 1 : i + 1 + len(rest)]) == rest:
                        self._hit("full_name", " ".join((word, *rest)), where)

    # -- numbers ---------------------------------------------------------------------------------
    def numbers(self, values: Iterable, where: str, *, id_like: bool) -> None:
        """Numbers of one field, column or array: hits where the field is id-like, or all are ids."""
        found = [v for v in values if self.reference.is_customer_number(v)]
        if not found:
            return
        distinct = {str(int(v)) for v in found}
        if id_like:
            for value in sorted(distinct)[:MAX_HITS_PER_KIND]:
                self._hit("customer_number", value, where)
            return
        present = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
        if len(found) == len(present) and len(distinct) >= 2:
            for value in sorted(distinct)[:MAX_HITS_PER_KIND]:
                self._hit("customer_number", value, f"{where} (a whole array of customer numbers)")

    # -- JSON ------------------------------------------------------------------------------------
    def json_value(self, value, where: str, *, key: str = "") -> None:
        """A parsed JSON value: strings as text, numbers by their key, Plotly typed arrays decoded."""
        if isinstance(value, dict):
            if "bdata" in value and "dtype" in value:
                array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
                shape = value.get("shape")
                if isinstance(shape, str) and "," in shape:
                    array = array.reshape([int(n) for n in shape.split(",")])
                    self.json_value(array.tolist(), where, key=key)
                else:
                    self.numbers(array.tolist(), where, id_like=is_id_like(key))
                return
            for name, item in value.items():
                self.text(str(name), where)
                self.json_value(item, f"{where}.{name}", key=str(name))
        elif isinstance(value, list):
            if value and all(isinstance(row, list) for row in value):
                # A table as rows (customdata: one row per point): read it column by column.
                width = max(len(row) for row in value)
                for j in range(width):
                    self.json_value([row[j] for row in value if j < len(row)], f"{where}[:,{j}]", key=key)
                return
            scalars = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
            if scalars:
                self.numbers(scalars, where, id_like=is_id_like(key))
            for index, item in enumerate(value):
                if isinstance(item, dict | list | str):
                    self.json_value(item, f"{where}[{index}]", key=key)
        elif isinstance(value, str):
            self.text(value, where)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.numbers([value], where, id_like=is_id_like(key))

    def string(self, value: str, where: str, *, key: str = "") -> None:
        """A string field: JSON read as its values, a ``data:`` URL as its decoded bytes, else text.

        The raw text of JSON and base64 is not read as text: a Plotly spec's typed arrays and a
        data URL are base64, whose letters and digits hold six-digit runs by chance; what they
        carry is read decoded instead.
        """
        stripped = value.strip()
        if stripped[:1] in "{[":
            try:
                parsed = json.loads(stripped)
            except ValueError:
                pass
            else:
                self.json_value(parsed, f"{where}<json>", key=key)
                return
        urls = list(_DATA_URL.finditer(value))
        for match in urls:
            self.blob(base64.b64decode(match.group(1)), f"{where}<data-url>")
        self.text(_DATA_URL.sub("data:", value) if urls else value, where)

    # -- tables and files ------------------------------------------------------------------------
    def arrow(self, table: pa.Table, where: str) -> None:
        """Every column name, schema note and cell of an Arrow table."""
        for key, value in (table.schema.metadata or {}).items():
            self.string(value.decode("utf-8", "replace"), f"{where}<meta:{key.decode()}>")
        for name, column in zip(table.column_names, table.columns, strict=True):
            self.text(str(name), where)
            here = f"{where}[{name}]"
            kind = column.type
            if pa.types.is_dictionary(kind):
                column = column.cast(kind.value_type)
                kind = kind.value_type
            values = column.to_pylist()
            if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
                numbers = [float(v) if pa.types.is_decimal(kind) and v is not None else v for v in values]
                self.numbers(numbers, here, id_like=is_id_like(str(name)))
            elif pa.types.is_date(kind) or pa.types.is_timestamp(kind):
                for value in values:
                    if isinstance(value, datetime | date):
                        self.text(value.isoformat()[:10], here)
            elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                for value in values:
                    if value is not None:
                        self.string(value, here, key=str(name))
            elif not pa.types.is_boolean(kind) and not pa.types.is_null(kind):
                for value in values:
                    if value is not None:
                        self.json_value(json.loads(json.dumps(value, default=str)), here, key=str(name))

    def blob(self, data: bytes, where: str) -> None:
        """Bytes: an Arrow stream, a Parquet file, or else text (CSV, HTML, JSON; PDF text runs)."""
        if data[:4] == b"\xff\xff\xff\xff" or data[:6] == b"ARROW1":
            try:
                self.arrow(pyarrow.ipc.open_stream(io.BytesIO(data)).read_all(), where)
                return
            except (pa.ArrowInvalid, OSError):
                pass
        if data[:4] == b"PAR1":
            self.arrow(pl.read_parquet(io.BytesIO(data)).to_arrow(), where)
            return
        self.string(data.decode("utf-8", "replace"), where)

    def csv(self, data: bytes, where: str) -> None:
        """A CSV download: as text, and as a table (so an id column of numbers counts by its name)."""
        self.blob(data, where)
        with contextlib.suppress(pl.exceptions.PolarsError, ValueError):
            self.arrow(pl.read_csv(io.BytesIO(data), infer_schema_length=10_000).to_arrow(), f"{where}<csv>")

    # -- protobuf ------------------------------------------------------------------------------
    def proto(self, message: Message, where: str) -> None:
        """Every set field of a protobuf message, recursively."""
        for descriptor, value in message.ListFields():
            name = descriptor.name
            here = f"{where}.{name}"
            repeated = descriptor.is_repeated
            if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
                if descriptor.message_type.GetOptions().map_entry:
                    for key, item in value.items():
                        self.text(str(key), here)
                        if isinstance(item, Message):
                            self.proto(item, f"{here}[{key}]")
                        else:
                            self.scalar(item, f"{here}[{key}]", name)
                    continue
                for index, item in enumerate(value if repeated else [value]):
                    self.proto(item, f"{here}[{index}]" if repeated else here)
                continue
            if descriptor.type == FieldDescriptor.TYPE_ENUM:
                continue  # a choice among the proto's own constants
            for item in value if repeated else [value]:
                self.scalar(item, here, name)

    def scalar(self, value, where: str, name: str) -> None:
        """One scalar proto field: strings and bytes decoded, numbers by the field's name."""
        if isinstance(value, str):
            self.string(value, where, key=name)
        elif isinstance(value, bytes):
            self.blob(value, where)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.numbers([value], where, id_like=is_id_like(name))

    def run(self, recorded: Capture) -> list[Hit]:
        """Scan a capture: its messages, then its files; returns the hits."""
        for index, raw in enumerate(recorded.messages):
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            self.proto(msg, f"msg{index}")
        for file_id, (mimetype, filename, data) in recorded.files.items():
            where = f"file {filename or file_id} ({mimetype})"
            self.text(filename or "", where)
            if mimetype == "text/csv":
                self.csv(data, where)
            else:
                # HTML and JSON as text. A PDF's text streams are compressed and no PDF reader is
                # installed: only the reviewers' sign-off panel offers one, and they see raw data.
                self.blob(data, where)
        return self.hits


def is_id_like(name: str) -> bool:
    """Whether a field, key or column name marks ids (``customer_id``, ``customdata``, ``Customer``)."""
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower())
    return any(word in ID_WORDS for word in words)


def scan(recorded: Capture, reference: PersonalData) -> list[Hit]:
    """Every hit of ``reference``'s personal data in a capture."""
    return Scanner(reference).run(recorded)
