"""One run over a data root: planning which sources change, running a source's chain through
the transitions, per-source state, the data-root lock and stale-temp sweep, and the audit
operations (table history, restore). Imports everything below it, never `catalog`, `query` or
`site`."""
