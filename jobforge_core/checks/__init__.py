"""The checks a row or a table must pass, and where failures go: expectations, row accounting
(nothing lost), quarantine files, volume and share thresholds, foreign keys across the gold
layer, schema drift between batches. Imports `common` and `sources`."""
