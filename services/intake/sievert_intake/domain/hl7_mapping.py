"""HL7 v2 messages to incident facts, and the acknowledgements that answer them. Pure: no I/O.

Messages are read by position, so one mapping serves v2.3 to v2.8. Incident messages are split
here, lazily: segments by CR, and only the fields the mapping reads by the separators MSH-1/MSH-2
declare (repetition, component, subcomponent), giving exactly what python-hl7's ``extract_field``
gives, about 20x cheaper; escape sequences are undone by python-hl7's own ``unescape``. ADT
messages are parsed with python-hl7 (``hl7`` on PyPI) whole, for the identity seam. (hl7apy
validates each message against its version's structure and was about 40x slower than python-hl7
on our messages.) The structure checks we need (MSH first, encoding characters, message type and
version, the fields we read) are done here, with errors that name the segment and field.

Which segment and field feeds which fact is documented in docs/intake-mapping.md; the constants
below follow it.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

import hl7  # type: ignore[import-untyped]
from hl7.util import unescape as _hl7_unescape  # type: ignore[import-untyped]

from sievert_intake.domain.identity import PatientIdentifiers, from_hl7
from sievert_intake.domain.inbound import (
    HL7_FACT_CODING_SYSTEM,
    OBSERVATION_CODES,
    FactKind,
    FactProblem,
    ProblemKind,
    Submission,
    parse_code,
    parse_flag,
)
from sievert_intake.domain.units import UnitError, convert_fact, parse_decimal
from sievert_shared.envelope import Tenant

SUPPORTED_VERSIONS = frozenset(
    {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}
)
INCIDENT_MESSAGES = frozenset({("PEX", "P07"), ("ORU", "R01")})
DEMOGRAPHICS_MESSAGES = frozenset({("ADT", "A08"), ("ADT", "A31")})
ACK_VERSION = "2.5.1"  # when the sender's version cannot be read or is not one we speak

# HL7 table 0357, message error condition codes.
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
TABLE_VALUE_NOT_FOUND = 103
UNSUPPORTED_MESSAGE_TYPE = 200
UNSUPPORTED_EVENT_CODE = 201
UNSUPPORTED_VERSION = 203
UNKNOWN_KEY = 204
DUPLICATE_KEY = 205
INTERNAL_ERROR = 207
SEGMENT_SEQUENCE_ERROR = 100

_ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    DUPLICATE_KEY: "Duplicate key identifier",
    INTERNAL_ERROR: "Application internal error",
}

_KIND_CODES = {
    ProblemKind.REQUIRED: REQUIRED_FIELD_MISSING,
    ProblemKind.TYPE: DATA_TYPE_ERROR,
    ProblemKind.VALUE: TABLE_VALUE_NOT_FOUND,
    ProblemKind.UNIT: TABLE_VALUE_NOT_FOUND,
    ProblemKind.DUPLICATE: DUPLICATE_KEY,
    ProblemKind.UNKNOWN: UNKNOWN_KEY,
}

_ODS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DEFAULT_ENCODING = "^~\\&"


@dataclass(frozen=True)
class Hl7Location:
    """Segment, its occurrence in the message (1-based) and field (and component) number."""

    segment: str
    field: int
    sequence: int = 1
    component: int | None = None

    def __str__(self) -> str:
        text = (
            f"{self.segment}-{self.field}"
            if self.sequence == 1
            else f"{self.segment}[{self.sequence}]-{self.field}"
        )
        return text if self.component is None else f"{text}.{self.component}"


@functools.lru_cache(maxsize=4096)
def _loc(segment: str, field_num: int, sequence: int = 1, component: int | None = None) -> Hl7Location:
    """An ``Hl7Location``, shared: they are immutable, and the mapping names the same few for every
    message (a frozen dataclass is slow to build)."""
    return Hl7Location(segment, field_num, sequence, component)


@dataclass(frozen=True)
class Hl7Problem:
    location: Hl7Location | None
    message: str
    code: int

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class Hl7Rejected(Exception):
    """The message cannot be processed at all: answer AR."""

    def __init__(self, problem: Hl7Problem, header: Header | None = None) -> None:
        super().__init__(str(problem))
        self.problems = [problem]
        self.header = header


class Hl7ContentError(Exception):
    """The message was read but its content is wrong: answer AE and store nothing."""

    def __init__(self, problems: list[Hl7Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Facility:
    """Configured meaning of a sending facility (MSH-4): its trust, default site and nation."""

    trust: str | None = None
    site: str | None = None
    nation: str | None = None


@dataclass(frozen=True)
class Header:
    field_separator: str
    encoding_characters: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    message_code: str
    trigger: str
    control_id: str
    version: str

    @property
    def ack_version(self) -> str:
        return self.version if self.version in SUPPORTED_VERSIONS else ACK_VERSION

    @property
    def message_type(self) -> str:
        return f"{self.message_code}^{self.trigger}"


@dataclass(frozen=True)
class Hl7Incident:
    header: Header
    submission: Submission
    #: Where each fact came from, so a validation error can name the segment and field.
    provenance: dict[str, Hl7Location]


@dataclass(frozen=True)
class Hl7Demographics:
    """ADT^A08/A31: a patient's current demographics, for the identifier vault only (never an
    event or a topic). ``identifiers`` is None when the PID gives nothing readable."""

    header: Header
    tenant_facility: str
    patient_segment: Any = field(repr=False)
    trust: str = ""
    identifiers: PatientIdentifiers | None = field(default=None, repr=False)


# --- framing and the header -------------------------------------------------------------------


_CHARSETS = {"": None, "ASCII": "ascii", "8859/1": "latin-1", "UNICODE UTF-8": "utf-8"}


def decode(frame: bytes) -> str:
    """The message text, in the character set MSH-18 names (UTF-8, then Latin-1, when it is empty),
    with its segments ending in CR: engines that end them with LF or CR LF are read alike (a
    field cannot hold a bare line break; HL7 escapes it)."""
    return _decoded(frame).replace("\r\n", "\r").replace("\n", "\r")


def _decoded(frame: bytes) -> str:
    head = re.split(rb"[\r\n]", frame, maxsplit=1)[0].decode("latin-1")
    charset = ""
    if head.startswith("MSH") and len(head) > 3:
        fields = head.split(head[3])
        charset = fields[17].split(_component_separator(fields))[0].strip() if len(fields) > 17 else ""
    if charset not in _CHARSETS:
        raise Hl7Rejected(
            Hl7Problem(Hl7Location("MSH", 18), f"character set {charset!r} is not supported", DATA_TYPE_ERROR)
        )
    codec = _CHARSETS[charset]
    if codec is None:
        try:
            return frame.decode("utf-8")
        except UnicodeDecodeError:
            return frame.decode("latin-1")
    try:
        return frame.decode(codec)
    except UnicodeDecodeError as exc:
        raise Hl7Rejected(
            Hl7Problem(
                Hl7Location("MSH", 18),
                f"byte {exc.start} is not valid {charset}, the character set the message declares",
                DATA_TYPE_ERROR,
            )
        ) from None


def salvage_header(frame: bytes) -> Header | None:
    """What can be read of MSH from a message refused before its header was checked, so the AR
    still echoes its control id (MSA-2); None when there is no MSH to read."""
    text = frame.decode("latin-1").lstrip("\r\n")
    if not text.startswith("MSH") or len(text) < 4:
        return None
    separator = text[3]
    fields = re.split(r"[\r\n]", text, maxsplit=1)[0].split(separator)
    encoding = fields[1] if len(fields) > 1 and _valid_encoding(separator, fields[1]) else _DEFAULT_ENCODING
    if not _valid_encoding(separator, encoding):
        separator = "|"

    def get(n: int) -> str:
        value = fields[n - 1] if len(fields) >= n else ""
        return value.split(encoding[1], 1)[0].split(encoding[0], 1)[0][:128]

    return Header(separator, encoding, get(3), get(4), get(5), get(6), get(9), "", get(10), get(12))


def unstorable_fields(text: str, header: Header) -> list[Hl7Problem]:
    """A problem naming each field that holds a NUL character, which PostgreSQL cannot store:
    refused (AE), not answered "send it again", which an engine would do for ever."""
    problems = []
    seen: dict[str, int] = {}
    for segment in text.split("\r"):
        if "\x00" not in segment:
            seen[segment[:3]] = seen.get(segment[:3], 0) + 1
            continue
        name = segment[:3].replace("\x00", "?")
        seen[name] = seen.get(name, 0) + 1
        offset = 1 if name == "MSH" else 0  # MSH-1 is the separator itself
        for index, value in enumerate(segment.split(header.field_separator)):
            if "\x00" in value:
                problems.append(
                    Hl7Problem(
                        Hl7Location(name, index + offset, seen[name]),
                        "contains a NUL character, which cannot be stored; nothing was stored",
                        DATA_TYPE_ERROR,
                    )
                )
    return problems


def _component_separator(fields: list[str]) -> str:
    return fields[1][0] if len(fields) > 1 and fields[1] else "^"


def read_header(text: str) -> Header:
    """MSH, checked enough to answer: separators, type, control id and version."""
    text = text.lstrip("\r\n")
    if not text.startswith("MSH"):
        raise Hl7Rejected(
            Hl7Problem(
                Hl7Location("MSH", 1),
                "the message does not start with an MSH segment",
                SEGMENT_SEQUENCE_ERROR,
            )
        )
    if len(text) < 8:
        raise Hl7Rejected(Hl7Problem(Hl7Location("MSH", 2), "MSH is truncated", REQUIRED_FIELD_MISSING))
    separator = text[3]
    first = text.split("\r", 1)[0]
    fields = first.split(separator)
    encoding = fields[1] if len(fields) > 1 else ""
    if not _valid_encoding(separator, encoding):
        raise Hl7Rejected(
            Hl7Problem(
                Hl7Location("MSH", 2),
                f"encoding characters {encoding!r} are not 4 (or 5) distinct punctuation characters "
                f"different from the field separator {separator!r}",
                DATA_TYPE_ERROR,
            )
        )

    def get(n: int, component: int = 1) -> str:
        value = fields[n - 1] if len(fields) >= n else ""
        value = value.split(encoding[1], 1)[0]  # first repetition
        parts = value.split(encoding[0])
        return parts[component - 1] if len(parts) >= component else ""

    header = Header(
        field_separator=separator,
        encoding_characters=encoding,
        sending_application=get(3),
        sending_facility=get(4),
        receiving_application=get(5),
        receiving_facility=get(6),
        message_code=get(9, 1),
        trigger=get(9, 2),
        control_id=get(10),
        version=get(12),
    )
    if not header.control_id:
        raise Hl7Rejected(
            Hl7Problem(Hl7Location("MSH", 10), "the message control id is empty", REQUIRED_FIELD_MISSING),
            header,
        )
    if len(header.control_id) > 128:
        raise Hl7Rejected(
            Hl7Problem(
                Hl7Location("MSH", 10),
                "the message control id is longer than 128 characters",
                DATA_TYPE_ERROR,
            ),
            header,
        )
    if header.version not in SUPPORTED_VERSIONS:
        raise Hl7Rejected(
            Hl7Problem(
                Hl7Location("MSH", 12),
                f"version {header.version!r} is not supported (2.3 to 2.8)",
                UNSUPPORTED_VERSION,
            ),
            header,
        )
    kind = (header.message_code, header.trigger)
    if kind not in INCIDENT_MESSAGES | DEMOGRAPHICS_MESSAGES:
        known_code = header.message_code in {code for code, _ in INCIDENT_MESSAGES | DEMOGRAPHICS_MESSAGES}
        raise Hl7Rejected(
            Hl7Problem(
                Hl7Location("MSH", 9, component=2 if known_code else 1),
                f"message type {header.message_type} is not accepted (PEX^P07, ORU^R01, ADT^A08, ADT^A31)",
                UNSUPPORTED_EVENT_CODE if known_code else UNSUPPORTED_MESSAGE_TYPE,
            ),
            header,
        )
    return header


def _valid_encoding(separator: str, encoding: str) -> bool:
    # v2.7 added a fifth character (truncation, usually '#').
    if len(encoding) not in (4, 5) or separator.isalnum() or separator in "\r\n \t":
        return False
    chars = separator + encoding
    return len(set(chars)) == len(chars) and not any(c.isalnum() or c in "\r\n \t" for c in chars)


# --- mapping ----------------------------------------------------------------------------------


class _Segment:
    """One segment, split into fields only: ``fields[n]`` is field n (``fields[0]`` the name)."""

    __slots__ = ("fields", "name")

    def __init__(self, name: str, fields: list[str]) -> None:
        self.name = name
        self.fields = fields


class _Escapes:
    """What python-hl7's ``unescape`` reads from a container: the escape character and the
    separators in its order (segment, field, repetition, component, subcomponent)."""

    __slots__ = ("esc", "separators")

    def __init__(self, esc: str, separators: str) -> None:
        self.esc = esc
        self.separators = separators


class _Reader:
    """Field access by position over a split message, remembering where each fact came from.

    Splitting follows python-hl7's ``parse`` + ``extract_field`` exactly (the message stripped,
    segments by CR, the separators of MSH-1/MSH-2 already checked by ``read_header``; a missing
    field, repetition or component reads as empty; a deeper path than the data takes the first
    subcomponent), but only the fields asked for are split, and a value is unescaped only when it
    holds the escape character.
    """

    def __init__(self, text: str, header: Header) -> None:
        text = text.replace("\n", "\r").strip("\r").strip()
        sep = header.field_separator
        enc = header.encoding_characters
        self._component, self._repetition, self._escape, self._subcomponent = enc[0], enc[1], enc[2], enc[3]
        self._escapes = _Escapes(enc[2], "\r" + sep + enc[1] + enc[0] + enc[3])
        self.by_name: dict[str, list[_Segment]] = {}
        for line in text.split("\r"):
            if line[:3] in ("MSH", "BHS", "FHS") and len(line) > 3:
                # python-hl7 reads the header segments' first fields as the separators themselves.
                name, fields = line[:3], [line[:3]]
            else:
                fields = line.split(sep)
                name = fields[0]
            self.by_name.setdefault(name, []).append(_Segment(name, fields))
        self.problems: list[Hl7Problem] = []
        self.facts: dict[str, Any] = {}
        self.provenance: dict[str, Hl7Location] = {}

    def first(self, name: str) -> _Segment | None:
        found = self.by_name.get(name)
        return found[0] if found else None

    def value(self, segment: _Segment, field_num: int, component: int = 1, repetition: int = 1) -> str:
        fields = segment.fields
        if field_num >= len(fields):
            return ""
        text = fields[field_num]
        if self._repetition in text:
            parts = text.split(self._repetition)
            if repetition > len(parts):
                return ""
            text = parts[repetition - 1]
        elif repetition > 1:
            return ""
        if self._component in text:
            parts = text.split(self._component)
            if component > len(parts):
                return ""
            text = parts[component - 1]
        elif component > 1:
            return ""
        if self._subcomponent in text:
            text = text.split(self._subcomponent, 1)[0]
        if self._escape in text:
            text = str(_hl7_unescape(self._escapes, text))
        return text.strip()

    def set(self, fact: str, value: Any, where: Hl7Location) -> None:
        if fact in self.facts:
            self.problems.append(
                Hl7Problem(where, f"{fact} is already given at {self.provenance[fact]}", DUPLICATE_KEY)
            )
            return
        self.facts[fact] = value
        self.provenance[fact] = where

    def problem(self, where: Hl7Location, message: str, code: int) -> None:
        self.problems.append(Hl7Problem(where, message, code))


def map_message(
    text: str, header: Header, facilities: dict[str, Facility] | None = None
) -> Hl7Incident | Hl7Demographics:
    """Map a decoded message whose header ``read_header`` accepted."""
    facilities = facilities or {}
    demographics = (header.message_code, header.trigger) in DEMOGRAPHICS_MESSAGES
    try:
        if demographics:
            pid = _patient_segment(text)
        else:
            reader = _Reader(text, header)
    except Exception as exc:  # python-hl7 raises assorted errors on malformed input
        raise Hl7Rejected(
            Hl7Problem(None, f"the message cannot be parsed: {type(exc).__name__}", DATA_TYPE_ERROR), header
        ) from None
    if demographics:
        if pid is None:
            raise Hl7ContentError(
                [Hl7Problem(Hl7Location("PID", 0), "ADT needs a PID segment", SEGMENT_SEQUENCE_ERROR)]
            )
        facility = facilities.get(header.sending_facility, Facility())
        return Hl7Demographics(
            header=header,
            tenant_facility=header.sending_facility,
            patient_segment=pid,
            trust=facility.trust or header.sending_facility,
            identifiers=from_hl7(text),
        )

    facility = facilities.get(header.sending_facility, Facility())
    trust = facility.trust or header.sending_facility
    if not trust:
        reader.problem(
            Hl7Location("MSH", 4, component=1),
            "the sending facility (trust ODS code) is empty",
            REQUIRED_FIELD_MISSING,
        )
    elif not _ODS.match(trust):
        reader.problem(Hl7Location("MSH", 4, component=1), f"{trust!r} is not an ODS code", DATA_TYPE_ERROR)
    site = ""
    pv1 = reader.first("PV1")
    if pv1 is not None:
        site = reader.value(pv1, 3, 4)  # PL.4, the facility of the assigned patient location
    site = site or (facility.site or "")
    if not site:
        reader.problem(
            Hl7Location("PV1", 3, component=4),
            "no site: send the ODS site code in PV1-3.4 or configure a default site for this facility",
            REQUIRED_FIELD_MISSING,
        )
    elif not _ODS.match(site):
        reader.problem(
            Hl7Location("PV1", 3, component=4), f"{site!r} is not an ODS site code", DATA_TYPE_ERROR
        )

    reference: str | None = None
    if header.message_code == "PEX":
        reference = _map_pex(reader)
    else:
        obr = reader.first("OBR")
        if obr is not None:
            reference = reader.value(obr, 3) or reader.value(obr, 2) or None

    birth_date = _birth_date(reader)
    _map_observations(reader)
    if facility.nation and "nation" not in reader.facts:
        reader.facts["nation"] = facility.nation
        reader.provenance["nation"] = _loc("MSH", 4)

    if reader.problems:
        raise Hl7ContentError(reader.problems)
    submission = Submission(
        tenant=Tenant(trust=trust, site=site),
        channel="hl7v2",
        source_message_id=header.control_id,
        reference=reference,
        facts=reader.facts,
        reason=f"HL7 {header.message_type} {header.control_id}",
        birth_date=birth_date,
        identifiers=from_hl7(text),  # split off here: stored encrypted, only a pseudonym goes on
    )
    return Hl7Incident(header=header, submission=submission, provenance=reader.provenance)


def _patient_segment(text: str) -> Any | None:
    """The PID of an ADT message as python-hl7 parses it, for the identity seam."""
    for segment in hl7.parse(text.replace("\n", "\r").strip("\r")):
        if str(segment[0]) == "PID":
            return segment
    return None


def _map_pex(reader: _Reader) -> str | None:
    pes = reader.first("PES")
    reference = None
    if pes is None:
        reader.problem(
            Hl7Location("PES", 0),
            "PEX^P07 needs a PES (product experience sender) segment",
            SEGMENT_SEQUENCE_ERROR,
        )
    else:
        reference = reader.value(pes, 5) or None  # EI.1, the sender's event identifier
        _date(reader, pes, "PES", 9, "discovered_on")
    peo = reader.first("PEO")
    if peo is None:
        reader.problem(
            Hl7Location("PEO", 0),
            "PEX^P07 needs a PEO (product experience observation) segment",
            SEGMENT_SEQUENCE_ERROR,
        )
    else:
        _date(reader, peo, "PEO", 3, "occurred_on")
        kind = reader.value(peo, 2)
        if kind:
            reader.set(
                "exposure_kind",
                parse_code(OBSERVATION_CODES["exposure_kind"], kind),
                _loc("PEO", 2, 1, 1),
            )
    pcr = reader.first("PCR")
    if pcr is not None:
        modality = reader.value(pcr, 3)
        if modality:
            system = reader.value(pcr, 3, 3)
            reader.set(
                "modality",
                parse_code(OBSERVATION_CODES["modality"], modality, system),
                _loc("PCR", 3, 1, 1),
            )
    return reference


def _date(reader: _Reader, segment: _Segment, name: str, field_num: int, fact: str) -> None:
    raw = reader.value(segment, field_num)
    if not raw:
        return
    where = _loc(name, field_num)
    try:
        reader.set(fact, parse_ts_date(raw).isoformat(), where)
    except ValueError as exc:
        reader.problem(where, str(exc), DATA_TYPE_ERROR)


def _birth_date(reader: _Reader) -> dt.date | None:
    pid = reader.first("PID")
    if pid is None:
        return None
    raw = reader.value(pid, 7)
    if len(raw) < 8:
        # Year or month only: the age cannot be known to the year, so it stays unknown.
        return None
    try:
        return parse_ts_date(raw)
    except ValueError as exc:
        reader.problem(Hl7Location("PID", 7), str(exc), DATA_TYPE_ERROR)
        return None


def parse_ts_date(raw: str) -> dt.date:
    """The date part of an HL7 DT/TS/DTM value (YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ]), as written."""
    if len(raw) < 8 or not raw[:8].isdigit():
        raise ValueError(f"{raw!r} is not an HL7 date (YYYYMMDD...)")
    try:
        return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        raise ValueError(f"{raw!r} is not a valid date") from None


_NUMERIC_TYPES = {"NM", "SN"}
_CODED_TYPES = {"CE", "CWE", "CNE", "ID", "IS", "ST", "TX", "FT"}
_DATE_TYPES = {"DT", "TS", "DTM"}


def _map_observations(reader: _Reader) -> None:
    """OBX segments coded with Sievert's observation codes (OBX-3, coding system 99SVT)."""
    for sequence, obx in enumerate(reader.by_name.get("OBX", []), start=1):
        code = reader.value(obx, 3, 1)
        system = reader.value(obx, 3, 3)
        spec = OBSERVATION_CODES.get(code)
        if spec is None:
            if system == HL7_FACT_CODING_SYSTEM:
                reader.problem(
                    Hl7Location("OBX", 3, sequence, 1),
                    f"{code!r} is not a Sievert observation code",
                    TABLE_VALUE_NOT_FOUND,
                )
            continue  # another system's observation (a report note, a DICOM SR item): not ours
        value_type = reader.value(obx, 2)
        raw = reader.value(obx, 5)
        where = _loc("OBX", 5, sequence)
        if raw == '""':
            reader.set(spec.fact, None, where)  # HL7's explicit null: the fact is no longer known
            continue
        if not raw:
            reader.problem(where, f"{code} has no value", REQUIRED_FIELD_MISSING)
            continue
        try:
            value = _observation_value(reader, obx, spec.kind, value_type, raw, sequence)
        except _FieldError as exc:
            reader.problem(exc.where, exc.message, exc.code)
            continue
        if spec.kind is FactKind.QUANTITY:
            unit = reader.value(obx, 6, 1)
            try:
                value = convert_fact(spec.fact, value, unit)  # the error names the fact and its units
            except UnitError as exc:
                reader.problem(Hl7Location("OBX", 6, sequence, 1), str(exc), TABLE_VALUE_NOT_FOUND)
                continue
        elif spec.kind is FactKind.CODE:
            value = parse_code(spec, raw, reader.value(obx, 5, 3))
        # FactKind.TEXT (a maker, a model) is kept as written: OBX-5.1, unescaped.
        reader.set(spec.fact, value, where)


class _FieldError(Exception):
    def __init__(self, where: Hl7Location, message: str, code: int) -> None:
        self.where, self.message, self.code = where, message, code


def _observation_value(
    reader: _Reader, obx: _Segment, kind: FactKind, value_type: str, raw: str, sequence: int
) -> Any:
    where = _loc("OBX", 5, sequence)
    type_at = _loc("OBX", 2, sequence)
    if kind in (FactKind.QUANTITY, FactKind.COUNT):
        if value_type not in _NUMERIC_TYPES:
            raise _FieldError(
                type_at, f"value type {value_type!r} is not NM for a numeric observation", DATA_TYPE_ERROR
            )
        try:
            number = parse_decimal(raw)
        except ValueError as exc:
            raise _FieldError(where, str(exc), DATA_TYPE_ERROR) from None
        if kind is FactKind.QUANTITY:
            return number
        if number != number.to_integral_value():
            raise _FieldError(where, f"{raw!r} is not a whole number", DATA_TYPE_ERROR)
        return int(number)
    if kind is FactKind.DATE:
        if value_type not in _DATE_TYPES:
            raise _FieldError(
                type_at, f"value type {value_type!r} is not DT/TS/DTM for a date", DATA_TYPE_ERROR
            )
        try:
            return parse_ts_date(raw).isoformat()
        except ValueError as exc:
            raise _FieldError(where, str(exc), DATA_TYPE_ERROR) from None
    if value_type not in _CODED_TYPES:
        raise _FieldError(type_at, f"value type {value_type!r} is not a coded or text type", DATA_TYPE_ERROR)
    if kind is FactKind.FLAG:
        try:
            return parse_flag(raw)
        except ValueError as exc:
            raise _FieldError(where, str(exc), TABLE_VALUE_NOT_FOUND) from None
    return raw


def locate(
    problems: list[FactProblem], provenance: dict[str, Hl7Location], header: Header
) -> list[Hl7Problem]:
    """Name the segment and field of each fact problem the service found."""
    located = []
    for problem in problems:
        where = provenance.get(problem.fact or "") or _DEFAULT_LOCATIONS.get(
            (header.message_code, problem.fact or "")
        )
        located.append(
            Hl7Problem(
                where,
                f"{problem.fact}: {problem.message}" if problem.fact else problem.message,
                _KIND_CODES[problem.kind],
            )
        )
    return located


# Where a missing fact was expected, when it came from nowhere.
_DEFAULT_LOCATIONS: dict[tuple[str, str], Hl7Location] = {
    ("PEX", "discovered_on"): Hl7Location("PES", 9),
    ("PEX", "exposure_kind"): Hl7Location("PEO", 2, component=1),
    ("PEX", "modality"): Hl7Location("PCR", 3, component=1),
    ("PEX", "nation"): Hl7Location("OBX", 3),
    ("ORU", "discovered_on"): Hl7Location("OBX", 3),
    ("ORU", "exposure_kind"): Hl7Location("OBX", 3),
    ("ORU", "modality"): Hl7Location("OBX", 3),
    ("ORU", "nation"): Hl7Location("OBX", 3),
    ("PEX", "patient_age_years"): Hl7Location("PID", 7),
    ("ORU", "patient_age_years"): Hl7Location("PID", 7),
    ("PEX", "source_message_id"): Hl7Location("MSH", 10),
    ("ORU", "source_message_id"): Hl7Location("MSH", 10),
}


# --- acknowledgements -------------------------------------------------------------------------


def build_ack(
    code: str,
    *,
    header: Header | None,
    control_id: str,
    now: dt.datetime,
    problems: list[Hl7Problem] = (),  # type: ignore[assignment]
) -> str:
    """An original-mode ACK: MSA-1 is AA, AE or AR; one ERR per problem names segment and field."""
    sep = header.field_separator if header else "|"
    enc = header.encoding_characters if header else _DEFAULT_ENCODING
    version = header.ack_version if header else ACK_VERSION
    esc = _escaper(sep, enc)
    msh = sep.join(
        [
            "MSH",
            enc,
            "SIEVERT",
            esc(header.receiving_facility if header else ""),
            esc(header.sending_application if header else ""),
            esc(header.sending_facility if header else ""),
            f"{now.year:04d}{now.month:02d}{now.day:02d}{now.hour:02d}{now.minute:02d}{now.second:02d}",
            "",
            enc[0].join(["ACK", esc(header.trigger if header else ""), "ACK"]),
            esc(control_id),
            "P",
            version,
        ]
    )
    old_style = version in ("2.3", "2.3.1", "2.4")
    msa_fields = ["MSA", code, esc(header.control_id if header else "")]
    if old_style and problems:
        msa_fields.append(esc(str(problems[0]))[:80])  # MSA-3 text message, retired from v2.5
    segments = [msh, sep.join(msa_fields)]
    for problem in problems:
        loc = problem.location
        where = [loc.segment, str(loc.sequence), str(loc.field)] if loc else ["", "", ""]
        text = _ERROR_TEXT.get(problem.code, "Error")
        if old_style:
            # v2.3/2.4 ERR-1 (ELD): segment^sequence^field^code&text&HL70357
            eld = enc[0].join([*where, enc[3].join([str(problem.code), esc(text), "HL70357"])])
            segments.append(sep.join(["ERR", eld]))
        else:
            erl = enc[0].join(
                [*where, "1" if loc else "", str(loc.component) if loc and loc.component else ""]
            )
            segments.append(
                sep.join(
                    [
                        "ERR",
                        "",
                        erl if loc else "",
                        enc[0].join([str(problem.code), esc(text), "HL70357"]),
                        "E",
                        "",
                        "",
                        "",
                        esc(str(problem)),
                    ]
                )
            )
    return "\r".join(segments) + "\r"


@functools.lru_cache(maxsize=64)
def _escaper(sep: str, enc: str) -> Any:
    component, repetition, escape, subcomponent = enc[0], enc[1], enc[2], enc[3]
    table = {
        escape: f"{escape}E{escape}",
        sep: f"{escape}F{escape}",
        component: f"{escape}S{escape}",
        subcomponent: f"{escape}T{escape}",
        repetition: f"{escape}R{escape}",
        "\r": " ",
        "\n": " ",
    }
    translation = str.maketrans(table)

    def esc(text: str) -> str:
        return text.translate(translation)

    return esc
