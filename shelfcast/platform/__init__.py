"""What makes any pipeline production-grade, with no retail knowledge: layered configuration,
schema validation, the Parquet IO manager over object storage, atomic writes, delivery."""
