"""What happened before: replaced table versions kept per batch, the transition logs on disk,
and the diff of two batches by grain key. Imports `common` and `sources`."""
