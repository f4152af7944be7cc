"""Pure rules of the registry: the element model, rules between items, revisions, the tabular form, search and
consistency. Nothing here does I/O or reads a clock."""
