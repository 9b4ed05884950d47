"""Sources as declared: the spec model and its YAML loading (kinds, merges), reading a file as
text (CSV, xlsx, JSON, parquet), the record/field-count scan, header naming, the private
snapshot staging reads, and what the specs imply as a whole (gold model schema, glossary,
which columns reach gold). Imports `common` only."""
