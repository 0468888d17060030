"""The export layout: every key in one place, one format per folder, metadata
outside the data folders, the export id a digest of the content."""

from __future__ import annotations

from eventsync.engine import layout

SYNC, DAY = "sync_ab12", "2024-05-01"


def test_each_format_has_its_own_hive_folder():
    assert layout.data_folder(SYNC, "csv") == "sync_ab12/csv/events/"
    assert layout.part_key(SYNC, "parquet", DAY, "zstd") == (
        "sync_ab12/parquet/events/date=2024-05-01/part-00000.parquet"
    )
    assert layout.part_key(SYNC, "csv", DAY, "gzip") == (
        "sync_ab12/csv/events/date=2024-05-01/part-00000.csv.gz"
    )
    assert layout.part_key(SYNC, "jsonl", DAY, "none") == (
        "sync_ab12/jsonl/events/date=2024-05-01/part-00000.jsonl"
    )


def test_manifest_and_schema_live_outside_every_data_folder():
    manifest = layout.manifest_key(SYNC, DAY)
    assert manifest == "sync_ab12/_manifests/date=2024-05-01.json"
    metadata = [
        manifest,
        layout.schema_key(SYNC),
        layout.table_definition_key(SYNC, "bigquery"),
        layout.table_definition_key(SYNC, "athena", "csv"),
    ]
    for key in metadata:
        for fmt in ("parquet", "csv", "jsonl"):
            assert not key.startswith(layout.data_folder(SYNC, fmt)), key


def test_table_definitions_sit_beside_the_schema():
    assert layout.schema_key(SYNC) == "sync_ab12/_schema.json"
    assert layout.table_definition_key(SYNC, "athena", "jsonl") == (
        "sync_ab12/_schema.athena_jsonl.sql"
    )
    assert layout.table_definition_key(SYNC, "spark_schema") == "sync_ab12/_schema.spark.ddl"


def test_legacy_day_folder_is_where_old_exports_are():
    assert layout.legacy_manifest_key(SYNC, DAY) == (
        "sync_ab12/events/date=2024-05-01/_manifest.json"
    )
    assert layout.day_folders(SYNC, DAY, ["parquet"]) == [
        "sync_ab12/parquet/events/date=2024-05-01/",
        "sync_ab12/events/date=2024-05-01/",
    ]


def test_privacy_keys():
    assert layout.tombstone_key("era_1") == "_deletions/era_1.json"
    assert layout.access_export_key("acc_1") == "_privacy/access/acc_1.csv"


def test_export_id_is_a_digest_of_the_listed_files():
    files = [{"key": "k", "rows": 1, "sha256": "ab"}]
    assert layout.export_id(1, files) == layout.export_id(1, [dict(files[0])])
    assert len(layout.export_id(1, files)) == 32
    assert layout.export_id(1, files) != layout.export_id(1, [{**files[0], "rows": 2}])
    assert layout.export_id(1, files) != layout.export_id(2, files)
