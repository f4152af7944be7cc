"""The lifecycle's I/O: ``http`` (routes) and ``views`` (the JSON they answer with), ``consumers`` (Kafka handlers),
``tables`` (SQLAlchemy tables), ``store`` (loading and saving item states, the schedule rows), ``snapshots`` (the
state as JSON), ``queries`` (the items list and chain verification), ``rebuild`` (every read model from the log)."""
