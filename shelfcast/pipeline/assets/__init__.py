"""The seven assets of the monthly pricing pipeline, one module per stage."""
