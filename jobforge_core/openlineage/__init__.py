"""OpenLineage events for every layer transition (README, "OpenLineage").

`naming` and `column_lineage` are plain Python; `events` builds the events with the official
client `openlineage-python`, imported only when an event is built; `emitter` sends them (or
keeps them as JSON lines) and never fails a run; `export` replays kept transition logs.
"""
