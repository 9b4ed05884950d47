"""OpenLineage events for every layer transition (docs/openlineage.md).

`naming` is plain Python (column lineage itself is `sources.column_lineage`, shared with the
catalog); `events` builds the events with the official
client `openlineage-python`, imported only when an event is built; `emitter` sends them (or
keeps them as JSON lines) and never fails a run; `export` replays kept transition logs.
"""
