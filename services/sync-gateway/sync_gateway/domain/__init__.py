"""Pure domain of the sync gateway: the translation of the lifecycle's public events into the national feed's
published records (``feed``), national feedback's rules (``feedback``) and its error hierarchy (``errors``)."""
