"""The lifecycle's use cases, each load → one pure decision → save in one transaction, with roles and regions
checked first: ``items`` (read an item, give it a command), ``batches`` (one command for many items),
``adjustments`` (split / merge), ``facts`` (recording facts other services publish, for the consumers),
``planned_dates`` (the worker acting on planned dates); ``roles`` says who may do what, ``clock`` is the injected
time."""
