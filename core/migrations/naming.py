"""What Alembic's autogenerate compares: the search indexes made by hand per dialect are not models."""

# Tables and indexes that migration 0002 makes with dialect-specific SQL (FTS5, pg_trgm).
HAND_MADE_PREFIXES = ("batch_item_fts", "ix_batch_item_number_trgm")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (name and name.startswith(HAND_MADE_PREFIXES))
