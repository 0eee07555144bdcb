"""Stage 1-2, fetch and prepare: upstream files verified into data/raw, parsed into data/prepared parquet splits."""
