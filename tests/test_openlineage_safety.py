"""Lineage never fails a run, even when building an event fails (a defect of ours, a facet
the data cannot fill): a warning in the log, the transition goes on."""

from __future__ import annotations

import logging

import pytest

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import LayerTransitionLog
from jobforge_core.common.settings import load_openlineage_settings
from jobforge_core.openlineage import events
from jobforge_core.openlineage.emitter import LineageEmitter


def test_an_event_that_cannot_be_built_is_a_warning_not_an_error(
    cfg: PipelineConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("facet builder defect")

    monkeypatch.setattr(events, "start_event", broken)
    monkeypatch.setattr(events, "end_event", broken)
    emitter = LineageEmitter(cfg, load_openlineage_settings())
    log = LayerTransitionLog(
        batch_id="b-1",
        source_layer="source",
        target_layer=Layer.STAGED,
        source_files=["x.csv"],
        row_count_in=1,
        row_count_out=1,
    )
    with caplog.at_level(logging.WARNING, logger="jobforge"):
        emitter.started(log, None)  # before the fix: TypeError from the warning itself
        emitter.finished(log, None)
    warned = [
        r.getMessage() for r in caplog.records if "openlineage_event_failed" in r.getMessage()
    ]
    # one warning for both events (a handler the session added may show a record twice)
    assert len(set(warned)) == 1 and "facet builder defect" in warned[0]
