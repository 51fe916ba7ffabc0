"""Pure-Python text processing: everything here works on ``str`` and iterators,
so Spark runs it over Arrow batches and tests call it directly."""
