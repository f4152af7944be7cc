"""The item lifecycle as pure functions over frozen models (no I/O, no clock, no ids): ``decide(state, command,
actor=, now=)`` returns the events a command causes, ``evolve(state, event)`` folds one event into the state.

- ``vocabulary``: phases, steps, commands, the allowed transitions, and their Chinese labels.
- ``model``: ``ItemState`` and its parts (revisions, pending update, national sync, lineage).
- ``events``: event types and labels, ``DomainEvent`` / ``Recorded``, the payloads the national platform receives.
- ``decide``: a user's command (``ItemCommand``) → events; ``retire`` (cancellation by adjustment or plan).
- ``facts``: facts from other services (registry revisions, codes, national feedback) → events.
- ``evolve``: events → state (``fold``, ``fold_from``, and ``apply`` / ``freeze`` for rebuilds).
- ``adjustments``: split and merge (事项调整) over several items; ``planning``: planned dates (计划生效/取消日期).
- ``errors``: the service's error hierarchy (``LifecycleError``).

Modules import one another directly (nothing is re-exported here): the standard library, ``shared.errors`` and
``shared.contracts`` only."""
