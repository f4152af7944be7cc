"""Pure rules of the registry: the element model, rules between items, revisions, what a submitted element set does
to an item (decisions.py), the tabular form, search, consistency, and the registry's errors (errors.py). Nothing
here does I/O or reads a clock."""
