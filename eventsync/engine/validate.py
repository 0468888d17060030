"""Row validation with a pandera schema, per record batch.

The pandera schema (`event_schema`) is the declared rule set and the only source of
quarantine reasons. Running it on every row costs more than reading the rows (pandas
conversion, one pandas pass per check), so each batch is first screened in Arrow:
`screen` implements the same rules as vectorized pyarrow.compute expressions (and
DuckDB's JSON check) and marks every row that may fail one of them. Only those rows
go through pandera, which names the reasons; the screen may mark too many rows
(pandera then passes them), never too few -- every rule is per row, and a duplicate
event id marks every row that carries it, so pandera sees each duplicate group whole.
pandera then reports exactly the failure cases it reports for the whole batch, in the
same sequence, so even the order of a row's reasons (which comes out of an unstable
sort over all the cases of a call) is the same. tests/eventsync/engine/test_validate.py checks,
on random hostile batches, that screen + pandera gives exactly the rows and reasons of
pandera on the whole batch.

The rows pandera sees are turned into pandas with Arrow-backed dtypes taken from the
Arrow schema (zero-copy; a wrong dtype makes pandera's pandas backend orders of
magnitude slower), validated lazily, and split: rows with failure cases go to
quarantine with the reason(s), the rest are cast to the export schema.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pda
import pyarrow as pa
import pyarrow.compute as pc

from eventsync.clock import day_bounds_us
from eventsync.engine.duck import duck
from eventsync.engine.event_schema import EVENT_TYPES, EXPORT_SCHEMA, QUARANTINE_SCHEMA
from eventsync.event_limits import LIMITS, OPTIONAL_STRING_FIELDS

# Text columns that must hold 1..width characters (event_id is also unique; event_type
# must be one of EVENT_TYPES, which is narrower than its width).
REQUIRED_TEXT = ("event_name", "user_id")
# Text columns that may be NULL and hold at most width characters.
OPTIONAL_TEXT = OPTIONAL_STRING_FIELDS

# Text handed to DuckDB per call: its memory stays far below its limit (duck.py) even
# when every row carries the largest legal properties (a batch of 131,072 rows of
# 32 KiB is 4 GiB of text; 3,000 of them once failed the export of their day).
JSON_CHECK_CHUNK_BYTES = 4 * 1024 * 1024


def _json_object_chunk(props: pa.Array) -> np.ndarray:
    """True where the value is NULL or a JSON object (one DuckDB call)."""
    chunk = pa.table({"p": props})  # noqa: F841 -- read by DuckDB
    return np.asarray(
        duck()
        .sql(
            "SELECT CASE WHEN p IS NULL THEN true WHEN json_valid(p) THEN json_type(p) = 'OBJECT'"
            " ELSE false END AS ok FROM chunk"
        )
        .fetchnumpy()["ok"],
        dtype=bool,
    )


def json_objects(props: pa.Array) -> np.ndarray:
    """Vectorized "is NULL or a JSON object" test: DuckDB's json_valid over the Arrow
    buffer (a Python json.loads per row would cost more than the rest of the export),
    in slices of at most JSON_CHECK_CHUNK_BYTES of text."""
    if props.nbytes <= JSON_CHECK_CHUNK_BYTES or len(props) < 2:
        return _json_object_chunk(props)
    rows = max(1, int(len(props) * JSON_CHECK_CHUNK_BYTES / props.nbytes))
    return np.concatenate(
        [_json_object_chunk(props.slice(i, rows)) for i in range(0, len(props), rows)]
    )


# A JSON string literal (escapes included), and an innermost pair of brackets.
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_INNERMOST = r"\{\}|\[\]"


def too_deep(props: pa.Array) -> np.ndarray:
    """True where the value is a JSON object nesting deeper than LIMITS.properties_depth
    (the object itself is level 1, as in the ingestion rule). Only a value with more
    opening brackets than the limit can; for those, string literals are dropped, then
    everything but brackets, then the innermost pairs, `limit` times: whatever is left
    nests deeper. Vectorized: no row is parsed in Python."""
    limit = LIMITS.properties_depth
    out = np.zeros(len(props), dtype=bool)
    opens = pc.add(pc.count_substring(props, "{"), pc.count_substring(props, "["))
    rows = np.flatnonzero(pc.fill_null(pc.greater(opens, limit), False).to_numpy(False))
    if not rows.size:
        return out
    text = props.take(pa.array(rows))
    objects = json_objects(text)
    brackets = pc.replace_substring_regex(
        pc.replace_substring_regex(text, _JSON_STRING, ""), r"[^\[\]{}]", ""
    )
    for _ in range(limit):
        brackets = pc.replace_substring_regex(brackets, _INNERMOST, "")
    out[rows] = objects & pc.greater(pc.binary_length(brackets), 0).to_numpy(False)
    return out


def too_large(props: pa.Array) -> np.ndarray:
    """True where the value has more than LIMITS.properties_bytes bytes of UTF-8."""
    big = pc.greater(pc.binary_length(props), LIMITS.properties_bytes)
    return pc.fill_null(big, False).to_numpy(zero_copy_only=False)


def _arrow_check(test: Callable[[pa.Array], np.ndarray]) -> Callable[[pd.Series], pd.Series]:
    """A pandera check of `properties` from an Arrow test (the screen runs the same)."""

    def check(series: pd.Series) -> pd.Series:
        return pd.Series(~test(pa.Array.from_pandas(series)), index=series.index)

    return check


def _json_objects(series: pd.Series) -> pd.Series:
    """The pandera check of `properties` (the same test as the screen's)."""
    return pd.Series(json_objects(pa.Array.from_pandas(series)), index=series.index)


def event_schema(workspace_id: str, day: str) -> pda.DataFrameSchema:
    """The pandera schema of one partition's raw rows. Error strings become the
    quarantine reasons, so they say what is wrong in words a customer understands.
    `screen` implements the same rules in Arrow: change both together."""
    string_dtype = pd.ArrowDtype(pa.string())
    int_dtype = pd.ArrowDtype(pa.int64())
    start, end = day_bounds_us(day)

    def required(name: str) -> pda.Column:
        width = LIMITS.width(name)
        return pda.Column(
            string_dtype,
            pda.Check.str_length(1, width, error=f"{name} empty or longer than {width}"),
            nullable=False,
        )

    def optional(name: str) -> pda.Column:
        width = LIMITS.width(name)
        return pda.Column(
            string_dtype,
            pda.Check.str_length(max_value=width, error=f"{name} longer than {width}"),
            nullable=True,
        )

    def nps_present(df: pd.DataFrame) -> pd.Series:
        return ~((df["event_type"] == "nps_response") & df["nps_score"].isna()).fillna(False)

    return pda.DataFrameSchema(
        {
            "event_id": pda.Column(
                string_dtype,
                pda.Check.str_length(
                    1, LIMITS.event_id, error=f"event_id empty or longer than {LIMITS.event_id}"
                ),
                nullable=False,
                unique=True,
            ),
            "workspace_id": pda.Column(
                string_dtype,
                pda.Check.isin([workspace_id], error="workspace_id of another workspace"),
            ),
            "event_type": pda.Column(
                string_dtype,
                pda.Check.isin(EVENT_TYPES, error="unknown event_type"),
                nullable=False,
            ),
            **{name: required(name) for name in REQUIRED_TEXT},
            **{name: optional(name) for name in OPTIONAL_TEXT},
            "occurred_at": pda.Column(
                int_dtype,
                pda.Check.in_range(
                    start, end, include_max=False, error=f"occurred_at outside partition day {day}"
                ),
                nullable=False,
            ),
            "received_at": pda.Column(int_dtype, nullable=False),
            "nps_score": pda.Column(
                int_dtype,
                pda.Check.in_range(
                    LIMITS.nps_min,
                    LIMITS.nps_max,
                    error=f"nps_score outside {LIMITS.nps_min}..{LIMITS.nps_max}",
                ),
                nullable=True,
            ),
            "properties": pda.Column(
                string_dtype,
                [
                    pda.Check(_json_objects, error="properties is not a JSON object"),
                    pda.Check(
                        _arrow_check(too_large),
                        error=f"properties larger than {LIMITS.properties_bytes} bytes",
                    ),
                    pda.Check(
                        _arrow_check(too_deep),
                        error=f"properties nest deeper than {LIMITS.properties_depth} levels",
                    ),
                ],
                nullable=True,
            ),
        },
        checks=[pda.Check(nps_present, error="nps_score missing for nps_response")],
        strict=False,
    )


# The columns the rules read, with the Arrow types the screen is written for. A batch
# that differs goes through pandera whole (which then names the schema failure).
_SCREEN_TYPES = {
    "event_id": pa.string(),
    "workspace_id": pa.string(),
    "event_type": pa.string(),
    **{name: pa.string() for name in (*REQUIRED_TEXT, *OPTIONAL_TEXT)},
    "occurred_at": pa.int64(),
    "received_at": pa.int64(),
    "nps_score": pa.int64(),
    "properties": pa.string(),
}
_EVENT_TYPES = pa.array(EVENT_TYPES, pa.string())


def _bad_length(values: pa.Array, max_len: int) -> pa.Array:
    """NULL, empty or longer than max_len characters (pandera's str_length counts
    characters too)."""
    n = pc.utf8_length(values)
    return pc.fill_null(pc.or_(pc.less(n, 1), pc.greater(n, max_len)), True)


def _too_long(values: pa.Array, max_len: int) -> pa.Array:
    """Longer than max_len characters (NULL is not)."""
    return pc.fill_null(pc.greater(pc.utf8_length(values), max_len), False)


def _duplicated(values: pa.Array) -> pa.Array:
    """Every row whose value occurs more than once in the batch (all of them, as
    pandera's uniqueness check reports them)."""
    counts = pc.value_counts(values)
    if len(counts) == len(values):
        return pa.nulls(len(values), pa.bool_()).fill_null(False)
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    return pc.is_in(values, value_set=repeated)


def screen(batch: pa.RecordBatch, workspace_id: str, day: str) -> np.ndarray | None:
    """The rows of the batch that may fail `event_schema` (a boolean mask), or None
    when the batch's columns are not the ones the screen is written for. The same
    rules, vectorized: exactly pandera's failing rows (a superset would do, a subset
    would not)."""
    schema = batch.schema
    for name, typ in _SCREEN_TYPES.items():
        i = schema.get_field_index(name)
        if i < 0 or not schema.field(i).type.equals(typ):
            return None
    start, end = day_bounds_us(day)
    col = batch.column
    occurred, nps = col("occurred_at"), col("nps_score")
    nps_outside = pc.or_(pc.less(nps, LIMITS.nps_min), pc.greater(nps, LIMITS.nps_max))
    flags = [
        _bad_length(col("event_id"), LIMITS.event_id),
        _duplicated(col("event_id")),
        pc.fill_null(pc.not_equal(col("workspace_id"), workspace_id), True),
        pc.invert(pc.is_in(col("event_type"), value_set=_EVENT_TYPES)),  # NULL: not in
        *(_bad_length(col(name), LIMITS.width(name)) for name in REQUIRED_TEXT),
        *(_too_long(col(name), LIMITS.width(name)) for name in OPTIONAL_TEXT),
        pc.fill_null(pc.or_(pc.less(occurred, start), pc.greater_equal(occurred, end)), True),
        pc.is_null(col("received_at")),
        pc.fill_null(nps_outside, False),
        pc.and_(pc.fill_null(pc.equal(col("event_type"), "nps_response"), False), pc.is_null(nps)),
    ]
    bad = flags[0]
    for f in flags[1:]:
        bad = pc.or_(bad, f)
    mask = bad.to_numpy(zero_copy_only=False)
    props = col("properties")
    return mask | ~json_objects(props) | too_large(props) | too_deep(props)


# Up to this many rows to drop, the valid rows are slices of the batch (no copy of
# a batch that is mostly valid: one fewer batch in memory); beyond, one filter.
_SLICE_UP_TO = 1_024


def _without_rows(batch: pa.RecordBatch, drop: list[int]) -> pa.Table:
    """The batch without the rows at the (sorted) positions `drop`."""
    if len(drop) > _SLICE_UP_TO:
        keep = np.ones(batch.num_rows, dtype=bool)
        keep[drop] = False
        return pa.Table.from_batches([batch.filter(pa.array(keep))])
    pieces, start = [], 0
    for i in drop:
        if i > start:
            pieces.append(batch.slice(start, i - start))
        start = i + 1
    if start < batch.num_rows:
        pieces.append(batch.slice(start))
    return pa.Table.from_batches(pieces, schema=batch.schema)


@dataclass
class DaySummary:
    """Counts of one partition's validation, accumulated over its batches."""

    extracted: int = 0
    valid: int = 0
    quarantined: int = 0
    by_type: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    duplicate_ids: list[str] = field(default_factory=list)


class DayValidator:
    """Validates the batches of one partition, keeping per-day state: counts and the
    64-bit hashes of event ids seen, so a duplicate in a later batch is caught too.

    pandera is asked once per batch (about the marked rows only), never about rows of
    several batches together: its failure cases come out of an unstable sort
    (`sort_values` in pandera's consolidate_failure_cases), so the order of a row's
    reasons depends on all the failure cases of the call; with the same marked rows
    per call it is the order pandera gives for the whole batch."""

    def __init__(self, workspace_id: str, day: str, use_screen: bool = True) -> None:
        self.workspace_id = workspace_id
        self.day = day
        self.use_screen = use_screen  # False: pandera on every row (the tests' reference)
        self._schema: pda.DataFrameSchema | None = None
        self.summary = DaySummary()
        self._hashes: list[np.ndarray] = []

    @property
    def schema(self) -> pda.DataFrameSchema:
        if self._schema is None:
            self._schema = event_schema(self.workspace_id, self.day)
        return self._schema

    def validate(self, batch: pa.RecordBatch) -> tuple[pa.Table, pa.Table]:
        """(valid rows in EXPORT_SCHEMA, quarantined rows in QUARANTINE_SCHEMA)."""
        self.summary.extracted += batch.num_rows
        return self._split(batch, self.failure_reasons(batch))

    def _split(self, batch: pa.RecordBatch, reasons: dict[int, str]) -> tuple[pa.Table, pa.Table]:
        """Splits `batch` as judged (`reasons` by row position) and counts its rows."""
        if reasons:
            bad = np.zeros(batch.num_rows, dtype=bool)
            bad[list(reasons)] = True
            mask = pa.array(bad)
            quarantined = batch.filter(mask)
            reason_col = pa.array([reasons[i] for i in sorted(reasons)], pa.string())
            for r in reason_col.to_pylist():
                for part in r.split("; "):
                    self.summary.reasons[part] += 1
            quarantine = (
                pa.Table.from_batches([quarantined])
                .append_column("reason", reason_col)
                .cast(QUARANTINE_SCHEMA)
            )
            rest = _without_rows(batch, sorted(reasons))
        else:
            quarantine = QUARANTINE_SCHEMA.empty_table()
            rest = pa.Table.from_batches([batch])
        self.summary.quarantined += quarantine.num_rows
        return self._accept(rest), quarantine

    def _accept(self, rows: pa.Table) -> pa.Table:
        """Valid rows: counted, their ids remembered, cast to the export schema."""
        valid = rows.cast(EXPORT_SCHEMA)
        if valid.num_rows:
            self.summary.valid += valid.num_rows
            for row in pc.value_counts(valid.column("event_type")).to_pylist():
                self.summary.by_type[row["values"]] += row["counts"]
            self._remember_ids(valid)
        return valid

    def failure_reasons(self, batch: pa.RecordBatch) -> dict[int, str]:
        """{row position: "reason; reason"} of the batch's failing rows: pandera's
        verdict, asked only about the rows the screen marks."""
        if not batch.num_rows:
            return {}
        suspects = screen(batch, self.workspace_id, self.day) if self.use_screen else None
        if suspects is None:
            return self._pandera_reasons(batch, None)
        rows = np.flatnonzero(suspects)
        if not rows.size:
            return {}
        return self._pandera_reasons(batch.take(pa.array(rows)), rows)

    def _pandera_reasons(self, batch: pa.RecordBatch, rows: np.ndarray | None) -> dict[int, str]:
        """Reasons pandera gives for `batch`; `rows` are the positions of its rows in
        the batch the caller validates (None: the same batch)."""
        df = batch.to_pandas(types_mapper=pd.ArrowDtype)
        if rows is not None:
            df.index = pd.Index(rows)
        try:
            self.schema.validate(df, lazy=True, inplace=True)
        except pda.errors.SchemaErrors as exc:
            cases = exc.failure_cases
        else:
            return {}
        del df
        # pandera's SchemaErrors sits in reference cycles (exception <-> traceback frames)
        # that hold the batch's DataFrames, so each failing batch stayed in memory until
        # a full GC: 1.1 GB peak for a 5M-row SQLite day. The cycles are young: collecting
        # generations 0-1 frees them (RSS flat) at a fraction of a full collection's cost.
        # (With the screen, the frames hold only the marked rows, unless the screen
        # could not run.)
        if rows is None:
            gc.collect(1)
        reasons: dict[int, list[str]] = {}
        # Plain lists, not iterrows (a Series per failure case cost ~15% of the call).
        columns = {c: cases[c].tolist() for c in cases.columns}
        for n, (index, check, column) in enumerate(
            zip(columns["index"], columns["check"], columns["column"], strict=True)
        ):
            if index is None or pd.isna(index):
                # A failure not tied to a row (missing column, wrong dtype): the batch is
                # not what the extraction promised -- stop rather than quarantine all.
                # Not the failing value (failure_case): it may be a person's data, and
                # this message reaches Dagster's storage.
                case = {c: v[n] for c, v in columns.items() if c != "failure_case"}
                raise ValueError(f"schema failure not tied to a row: {case}")
            reason = str(check)
            if reason in ("not_nullable", "field_uniqueness"):
                reason = {
                    "not_nullable": f"{column} missing",
                    "field_uniqueness": f"duplicate {column}",
                }[reason]
            row_reasons = reasons.setdefault(int(index), [])
            if reason not in row_reasons:
                row_reasons.append(reason)
        return {i: "; ".join(r) for i, r in reasons.items()}

    def _remember_ids(self, valid: pa.Table) -> None:
        ids = valid.select(["event_id"])  # noqa: F841 -- read by DuckDB
        hashes = duck().sql("SELECT hash(event_id) AS h FROM ids").fetchnumpy()["h"]
        self._hashes.append(np.asarray(hashes, dtype=np.uint64))

    def finish(self) -> DaySummary:
        """Checks uniqueness of event ids across the whole day (sorted 64-bit hashes)."""
        if self._hashes:
            all_hashes = np.sort(np.concatenate(self._hashes))
            dup = all_hashes[1:][all_hashes[1:] == all_hashes[:-1]]
            if dup.size:
                self.summary.duplicate_ids = [f"hash:{int(h):016x}" for h in np.unique(dup)[:20]]
        self._hashes = []
        return self.summary
