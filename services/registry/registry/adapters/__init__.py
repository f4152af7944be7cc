"""Registry adapters: HTTP, store, queries, file formats."""
