"""bench/RESULTS.md from the raw results: tables, targets, failures, machine and command."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import describe
from bench.sections import CARRIED, kept_section, with_section

MIB = 1024**2
GIB = 1024**3
LAYERS = ("staged", "bronze", "silver", "gold")


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _mib(n: int | None) -> str:
    return "n/a" if not n else f"{n / MIB:.0f}"


def _rows(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k" if n >= 1000 else str(n)


def _main_table(sizes: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dataset | rows | CSV MB | JobForge total s | JobForge flow s | JobForge pipeline s "
        "| baseline total s | baseline pipeline s | ratio pipeline | ratio total "
        "| JobForge peak RSS MiB | baseline peak RSS MiB "
        "| quarantined (cast_error / duplicate_key) | JobForge commit |",
        "| --- |" + " ---: |" * 11 + " --- | --- |",
    ]
    for e in sizes:
        jf, bl = e["jobforge"], e["baseline"]
        layers = jf["lineage"]["layers"]
        cast = layers.get("bronze", {}).get("rules", {}).get("cast_error", 0)
        dup = layers.get("silver", {}).get("rules", {}).get("duplicate_key", 0)
        pipeline = jf["lineage"]["pipeline_s"]
        if jf["ok"]:
            status, ratios = (
                "",
                (_ratio(pipeline, bl.get("pipeline_s")), _ratio(jf["wall_s"], bl["wall_s"])),
            )
        else:  # a failed run's times are up to the failure: no ratio
            failed_in = LAYERS[len(layers)] if len(layers) < len(LAYERS) else "catalog"
            status, ratios = f" **FAILED** in {failed_in}", (None, None)
        lines.append(
            f"| {e['dataset']} | {_rows(e['rows'])} | {e['source_bytes'] / 1e6:.0f} "
            f"| {_f(jf['wall_s'])}{status} | {_f(jf.get('flow_s'))} "
            f"| {_f(pipeline)} | {_f(bl['wall_s'])} | {_f(bl.get('pipeline_s'))} "
            f"| {_f(ratios[0], 2)} | {_f(ratios[1], 2)} | {_mib(jf['peak_rss'])} "
            f"| {_mib(bl['peak_rss'])} | {cast} / {dup} | {jf.get('commit', 'n/a')} |"
        )
    return lines


def _throughput_table(sizes: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dataset | rows | " + " | ".join(f"{lyr} JobForge / baseline" for lyr in LAYERS) + " |",
        "| --- | ---: |" + " ---: |" * len(LAYERS),
    ]
    for e in sizes:
        jf = e["jobforge"]["lineage"]["layers"]
        bl = e["baseline"].get("layers", {})
        cells = []
        rows_in = e["rows"]
        for lyr in LAYERS:
            j = jf.get(lyr)
            b = bl.get(lyr)
            j_rate = j["rows_in"] / j["seconds"] / 1e3 if j and j["seconds"] else None
            b_rate = rows_in / b["seconds"] / 1e3 if b and b["seconds"] else None
            j_s = f"{_f(j['seconds'])} s" if j else "n/a"
            b_s = f"{_f(b['seconds'])} s" if b else "n/a"
            cells.append(f"{_f(j_rate, 0)} / {_f(b_rate, 0)} ({j_s} / {b_s})")
            if b:
                rows_in = b["rows_out"]
        lines.append(f"| {e['dataset']} | {_rows(e['rows'])} | " + " | ".join(cells) + " |")
    return lines


def _split_table(sizes: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dataset | rows | interpreter + imports s | flow start to first transition s "
        "| transitions s | last transition to flow end s | peak RSS process tree MiB "
        "| load avg before (JobForge / baseline) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in sizes:
        jf = e["jobforge"]
        lines.append(
            f"| {e['dataset']} | {_rows(e['rows'])} | {_f(jf.get('import_s'))} "
            f"| {_f(jf.get('before_first_transition_s'))} | {_f(jf['lineage']['pipeline_s'])} "
            f"| {_f(jf.get('after_last_transition_s'))} | {_mib(jf['peak_tree_rss'])} "
            f"| {_f(jf.get('load_before'), 2)} / {_f(e['baseline'].get('load_before'), 2)} |"
        )
    return lines


def _repeats(entry: dict[str, Any]) -> dict[str, list[Any]] | None:
    """The per-run figures of a size measured with --repeats N > 1; None for a single run."""
    rep = entry.get("repeats")
    return rep if rep and len(rep.get("jobforge", [])) > 1 else None


def _lower_median(values: list[Any]) -> Any:
    """The lower middle value: the run the other tables show (bench/run.py picks the lower
    middle run for an even count), so the two never disagree."""
    found = [v for v in values if v is not None]
    return statistics.median_low(found) if found else None


def _ratio_of_medians(rep: dict[str, list[Any]]) -> float | None:
    """JobForge / baseline median pipeline; None if any run failed, as a failed run has no
    ratio in the main table either."""
    if None in rep["jobforge"] or None in rep["baseline"]:
        return None
    return _ratio(_lower_median(rep["jobforge"]), _lower_median(rep["baseline"]))


def _spread(values: list[float | None]) -> str:
    """min / median / max of the successful runs."""
    found = [v for v in values if v is not None]
    if not found:
        return "n/a"
    return f"{_f(min(found))} / {_f(_lower_median(found))} / {_f(max(found))}"


def _repeat_table(sizes: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dataset | rows | runs | baseline pipeline s (min / median / max) "
        "| JobForge pipeline s (min / median / max) | ratio of medians | paired ratios "
        "| baseline peak RSS MiB (median) | JobForge peak RSS MiB (median) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for e in sizes:
        rep = _repeats(e)
        if rep is None:
            continue
        runs = len(rep["jobforge"])
        failed = sum(v is None for v in rep["jobforge"] + rep["baseline"])
        count = f"{runs} ({failed} failed)" if failed else str(runs)
        paired = ", ".join(_f(r, 2) for r in e.get("paired_ratios", []))
        lines.append(
            f"| {e['dataset']} | {_rows(e['rows'])} | {count} | {_spread(rep['baseline'])} "
            f"| {_spread(rep['jobforge'])} | {_f(_ratio_of_medians(rep), 2)} | {paired} "
            f"| {_mib(_lower_median(rep['baseline_peak_rss']))} "
            f"| {_mib(_lower_median(rep['jobforge_peak_rss']))} |"
        )
    return lines


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None and r.get("ok")]
    return statistics.median(values) if values else None


def overhead_figures(overhead: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per case: median flow/core times and (flow - core) / sources, for both servers."""
    out = {}
    for case, data in overhead.items():
        n = data["sources"]
        core = _median(data["core"], "flow_s")
        core_wall = _median(data["core"], "wall_s")
        row: dict[str, Any] = {"sources": n, "core_s": core, "core_wall_s": core_wall}
        for mode in ("embedded", "server"):
            flow = _median(data.get(mode, []), "flow_s")
            wall = _median(data.get(mode, []), "wall_s")
            row[f"{mode}_flow_s"], row[f"{mode}_wall_s"] = flow, wall
            row[f"{mode}_per_source_s"] = (flow - core) / n if flow and core else None
            row[f"{mode}_per_source_wall_s"] = (
                (wall - core_wall) / n if wall and core_wall else None
            )
        runs = [r for mode in ("core", "embedded", "server") for r in data.get(mode, [])]
        row["commits"] = ", ".join(sorted({str(r.get("commit", "n/a")) for r in runs}))
        out[case] = row
    return out


def _overhead_table(fig: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| case | sources | plain core s (wall) | flow, running server s (wall) "
        "| flow, embedded server s (wall) | per-source overhead, running server s (wall) "
        "| per-source overhead, embedded s (wall) | JobForge commit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for case, r in fig.items():
        lines.append(
            f"| {case} | {r['sources']} | {_f(r['core_s'], 2)} ({_f(r['core_wall_s'], 2)}) "
            f"| {_f(r['server_flow_s'], 2)} ({_f(r['server_wall_s'], 2)}) "
            f"| {_f(r['embedded_flow_s'], 2)} ({_f(r['embedded_wall_s'], 2)}) "
            f"| {_f(r['server_per_source_s'], 2)} ({_f(r['server_per_source_wall_s'], 2)}) "
            f"| {_f(r['embedded_per_source_s'], 2)} ({_f(r['embedded_per_source_wall_s'], 2)}) "
            f"| {r['commits']} |"
        )
    return lines


def _check(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def _pipeline_ratio(entry: dict[str, Any]) -> tuple[float | None, str]:
    """JobForge / baseline pipeline for a target, and a note saying it is a median if so:
    with repeats, the ratio of medians, since one pair alone swings with the machine's load."""
    rep = _repeats(entry)
    if rep is not None:
        return _ratio_of_medians(rep), f"median of {len(rep['jobforge'])}; "
    jf, bl = entry["jobforge"], entry["baseline"]
    return _ratio(jf["lineage"]["pipeline_s"], bl.get("pipeline_s")), ""


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) rows; size targets use the largest and smallest size measured."""
    rows: list[tuple[str, str, bool | None]] = []
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for e in results["sizes"]:
        by_dataset.setdefault(e["dataset"], []).append(e)
    for key, entries in by_dataset.items():
        ok = [e for e in entries if e["jobforge"]["ok"]]
        for e in entries:
            if not e["jobforge"]["ok"]:
                killed = e["jobforge"]["killed_for_memory"]
                why = "killed at the memory ceiling" if killed else "error (see Failures)"
                rows.append((f"{key}: JobForge completes at {_rows(e['rows'])}", why, False))
        if not ok:
            continue
        big = max(ok, key=lambda e: e["rows"])
        small = min(ok, key=lambda e: e["rows"])
        jf, bl = big["jobforge"], big["baseline"]
        n = _rows(big["rows"])
        r_pipe, of_n = _pipeline_ratio(big)
        r_total = _ratio(jf["wall_s"], bl["wall_s"])
        rows.append(
            (
                f"{key}: JobForge / baseline at {n} <= 1.25 (pipeline)",
                f"{_f(r_pipe, 2)} ({of_n}total incl. Prefect start and catalog: {_f(r_total, 2)})",
                None if r_pipe is None else r_pipe <= 1.25,
            )
        )
        rss = jf["peak_rss"]
        rows.append(
            (f"{key}: peak RSS at {n} <= 1.5 GiB", f"{rss / GIB:.2f} GiB", rss <= 1.5 * GIB)
        )
        if big is small:
            continue
        m = _rows(small["rows"])
        growth = rss / small["jobforge"]["peak_rss"]
        rows.append((f"{key}: peak RSS {n} / {m} <= 1.5", f"{growth:.2f}", growth <= 1.5))
        scale = big["rows"] / small["rows"]
        t_pipe = _ratio(jf["lineage"]["pipeline_s"], small["jobforge"]["lineage"]["pipeline_s"])
        t_total = _ratio(jf["wall_s"], small["jobforge"]["wall_s"])
        rows.append(
            (
                f"{key}: time({n}) / time({m}) <= {1.1 * scale:g}",
                f"{_f(t_pipe, 2)} pipeline, {_f(t_total, 2)} total",
                None if t_pipe is None else t_pipe <= 1.1 * scale,
            )
        )
    if results.get("overhead"):
        fig = overhead_figures(results["overhead"])
        for case, r in fig.items():
            per = r["server_per_source_s"]
            rows.append(
                (
                    f"per-source orchestration overhead, running server, {case} <= 1.5 s",
                    f"{_f(per, 2)} s (embedded: {_f(r['embedded_per_source_s'], 2)} s)",
                    None if per is None else per <= 1.5,
                )
            )
        s = fig.get("small20", {})
        flow = s.get("server_flow_s")
        rows.append(
            (
                "20 small sources in one flow run <= 10 s (running server)",
                f"{_f(flow, 2)} s flow, {_f(s.get('server_wall_s'), 2)} s process; "
                f"embedded: {_f(s.get('embedded_flow_s'), 2)} s flow, "
                f"{_f(s.get('embedded_wall_s'), 2)} s process",
                None if flow is None else flow <= 10,
            )
        )
    return rows


def _failures(results: dict[str, Any]) -> list[str]:
    lines = []
    for e in results["sizes"]:
        for who in ("jobforge", "baseline", "core"):
            run = e.get(who)
            if run and not run["ok"]:
                lines += [
                    f"### {who} failed: {e['dataset']} {_rows(e['rows'])}",
                    "",
                    f"return code {run['returncode']}, killed for memory: "
                    f"{run['killed_for_memory']}, log `{run['log']}`",
                    "",
                    "```",
                    run.get("error_tail", ""),
                    "```",
                    "",
                ]
    return lines


def _commits(results: dict[str, Any]) -> str:
    """Every code version the JobForge runs saw: more than one means the tree changed."""
    runs = [e["jobforge"] for e in results["sizes"]]
    for case in (results.get("overhead") or {}).values():
        runs += [r for mode in ("core", "embedded", "server") for r in case.get(mode, [])]
    found = sorted({r.get("commit", "unknown") for r in runs})
    note = "" if len(found) <= 1 else " (**the code changed during the run**)"
    return ", ".join(found) + note


def _repeat_section(sizes: list[dict[str, Any]]) -> list[str]:
    """Only when some size ran more than once: a single run has no spread to show."""
    if not any(_repeats(e) for e in sizes):
        return []
    return [
        "## Repeated runs",
        "",
        "With `--repeats N` the baseline and JobForge ran N times each, interleaved "
        "(baseline, JobForge, baseline, ...); the other tables show the run with the median "
        "pipeline time (the lower middle one for an even N, a failed one if any failed). "
        "Paired ratios: JobForge / baseline pipeline of each back-to-back pair.",
        "",
        *_repeat_table(sizes),
        "",
    ]


def render(results: dict[str, Any]) -> str:
    order = ["generic", "cops", "oasis"]
    results = {
        **results,
        "sizes": sorted(
            results["sizes"],
            key=lambda e: (order.index(e["dataset"]) if e["dataset"] in order else 9, e["rows"]),
        ),
    }
    m = describe()
    out = [
        "# JobForge benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{results['command']}` "
        "(from the repository root, in the project venv). See bench/README.md for what each "
        "figure means.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM, {m['os']}. "
        f"Versions: Python {m['python']}, polars {m['polars']}, prefect {m['prefect']}, "
        f"duckdb {m['duckdb']}, pyarrow {m['pyarrow']}. JobForge commit measured: "
        f"{_commits(results)}.",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "| --- | --- | --- |",
        *[f"| {t} | {v} | {_check(ok)} |" for t, v, ok in targets(results)],
        "",
    ]
    if results["sizes"]:
        out += [
            "## Wall time and memory per source size",
            "",
            "total = the child process from exec to exit (JobForge: interpreter, imports, "
            "embedded Prefect server, plan, transitions, catalog rebuild, artifacts); flow = "
            "the `jobforge_flow(...)` call; pipeline = first transition start to last "
            "transition end (LayerTransitionLog); baseline pipeline = first read to last write. "
            "Ratios are JobForge / baseline. Peak RSS = ru_maxrss of the child (wait4).",
            "",
            *_main_table(results["sizes"]),
            "",
            *_repeat_section(results["sizes"]),
            "## Throughput per transition (thousand input rows per second)",
            "",
            *_throughput_table(results["sizes"]),
            "",
            "## Where JobForge's wall time goes",
            "",
            *_split_table(results["sizes"]),
            "",
        ]
    if results.get("overhead"):
        out += [
            "## Fixed overhead (10-row sources; medians)",
            "",
            "flow s = the `jobforge_flow` call (embedded: including the server start); wall = "
            "the whole child process. plain core = `plan_sources` + `run_source` per plan + "
            "`rebuild_catalog` (the flow does the same work). Per-source overhead = "
            "(flow - plain core) / sources.",
            "",
            *_overhead_table(overhead_figures(results["overhead"])),
            "",
        ]
    if results.get("profile"):
        out += [
            "## Profile: generic source, plain `run_source` (no Prefect)",
            "",
            f"`python -m bench.profile --rows {results['profile']['rows']} --pyinstrument` "
            f"(JobForge commit {results['profile'].get('commit', 'n/a')}); peak RSS per layer "
            "is that layer's own high-water mark.",
            "",
            "| step | seconds | peak RSS MiB | rows in | rows out | quarantined |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *[
                f"| {r['step']} | {_f(r['seconds'])} | {_f(r.get('peak_rss_mib'), 0)} "
                f"| {r.get('rows_in', '')} | {r.get('rows_out', '')} | {r.get('quarantined', '')} |"
                for r in results["profile"]["layers"]
            ],
            "",
        ]
    out += [f"{line}" for line in results.get("notes", [])]
    failures = _failures(results)
    if failures:
        out += ["## Failures", "", *failures]
    return "\n".join(out).rstrip() + "\n"


def write_results(results: dict[str, Any], path: Path) -> None:
    """The tables; the sections other benches write (bench/sections.py) are carried over."""
    text = render(results)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    for name in CARRIED:
        kept = kept_section(old, name)
        if kept:
            text = with_section(text, name, kept)
    path.write_text(text, encoding="utf-8")
