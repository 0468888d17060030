"""CSV, RFC 4180: comma, double quote (doubled inside values), CRLF record ends, one
header line, UTF-8. NULL is an empty unquoted field; an empty string is `""`, so
readers that honour quoting (DuckDB, polars, Spark, pyarrow) tell them apart.
Timestamps are ISO-8601 UTC text with microseconds."""

from __future__ import annotations

from pathlib import Path

from eventsync.engine.duck import duck
from eventsync.engine.formats.text import TextFormat, select_rendered, sql_path

DIALECT = "HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NEW_LINE '\\r\\n'"


def _id_list(ids: set[str]) -> str:
    if not ids:
        return "NULL"
    return ", ".join("'" + i.replace("'", "''") + "'" for i in sorted(ids))


def _subject_sql(users: set[str], companies: set[str]) -> str:
    return (
        f"(coalesce(user_id IN ({_id_list(users)}), false) OR "
        f"coalesce(company_id IN ({_id_list(companies)}), false))"
    )


class CsvFormat(TextFormat):
    name = "csv"
    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def _read(self, src: Path) -> str:
        """Every column as text, `""` kept as an empty string: rows that stay are
        written back exactly as they were."""
        return (
            f"read_csv({sql_path(src)}, header = true, all_varchar = true, delim = ',', "
            f"quote = '\"', escape = '\"', allow_quoted_nulls = false, "
            f"compression = '{self.detect_codec(src)}')"
        )

    def write(self, select: str, codec: str, out: Path) -> None:
        """COPY a query's rows to `out` in this dialect."""
        duck().execute(
            f"COPY ({select}) TO {sql_path(out)} ({DIALECT}, COMPRESSION '{codec}')"
        ).fetchall()

    def render(self, staged: Path, codec: str, out: Path) -> None:
        self.write(select_rendered(staged), codec, out)

    def filter_subjects(
        self, src: Path, users: set[str], companies: set[str], out: Path
    ) -> tuple[int, int]:
        rows, hits = self.count(src, users, companies)
        where = f"NOT {_subject_sql(users, companies)}"
        self.write(f"SELECT * FROM {self._read(src)} WHERE {where}", self.detect_codec(src), out)
        return rows - hits, hits

    def count(self, src: Path, users: set[str], companies: set[str]) -> tuple[int, int]:
        # fetchall: a result left unfinished on the thread's shared connection makes its
        # next query fail ("unfinished result from execute()").
        ((rows, hits),) = (
            duck()
            .sql(
                f"SELECT count(*), count(*) FILTER (WHERE {_subject_sql(users, companies)}) "
                f"FROM {self._read(src)}"
            )
            .fetchall()
        )
        return int(rows), int(hits)
