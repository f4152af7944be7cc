"""The contracts between the services and with the national platform, checked against what the services really
consume and produce, and against their generated documentation."""

from __future__ import annotations

import copy
from typing import get_args

import pytest

from shared import contracts
from shared.contracts import docs
from shared.contracts.elements import DRAFT, ELEMENTS, ITEM, SERVICE_GUIDE, Published
from shared.contracts.events import (
    CONTRACTS,
    CodedElements,
    ContractElements,
    ContractViolationError,
    check_outgoing,
    read_incoming,
)
from shared.contracts.feed import PublishedElements, PublishedItemRecord
from shixiang.services import SERVICES


def test_docs_events_md_is_generated_from_the_current_schemas() -> None:
    assert docs.DOCUMENT.read_text(encoding="utf-8") == docs.render(), (
        "docs/events.md is out of date: run python -m shared.contracts.docs")


@pytest.mark.parametrize("event_type", sorted(CONTRACTS))
def test_every_documented_example_is_valid_against_its_schema(event_type: str) -> None:
    contract = CONTRACTS[event_type]
    check_outgoing(event_type, contract.example)
    assert read_incoming(event_type, copy.deepcopy(contract.example)) == (event_type, contract.example)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_consumer_acts_only_on_contract_types_of_the_topic_it_reads_and_the_contract_names_it(
        service: str) -> None:
    """What a service's composition root wires (its consumers, their topics and accepted types) is exactly what
    the contracts say: producer, consumers, and the source each topic demands."""
    entry = SERVICES[service]
    module = entry.bootstrap()
    runtime, _ = module.build(module.SETTINGS())
    consumed: set[str] = set()
    for spec in runtime.consumers:
        if spec.name.endswith(".sync.ops"):
            # The sync gateway's operations log (the console's live events) takes every current type on every
            # service's topic, internal events included, and acts on none of their content: not a consumer the
            # contracts list.
            assert {topic.split(".")[-2] for topic in spec.sources} == set(SERVICES)
            assert all(source == contracts.source_of(topic.split(".")[-2]) for topic, source in spec.sources.items())
            on_topics = {t for t, c in CONTRACTS.items()} | set(contracts.INTERNAL_EVENTS)
            assert spec.accepts == on_topics, spec.name
            continue
        [(topic, source)] = spec.sources.items()
        producer = topic.split(".")[-2]
        assert source == contracts.source_of(producer)
        for event_type in spec.accepts:
            contract = CONTRACTS[event_type]
            assert contract.producer == producer, (event_type, spec.name)
            assert service in contract.consumers, f"{event_type}: the contract does not list {service}"
            consumed.add(event_type)
    listed = {t for t, c in CONTRACTS.items() if service in c.consumers}
    assert consumed == listed, f"{service} consumes {sorted(consumed)}, the contracts list {sorted(listed)}"


def test_a_producer_cannot_store_an_event_that_breaks_its_contract() -> None:
    published = copy.deepcopy(CONTRACTS[contracts.LIFECYCLE_PUBLISHED].example)
    del published["code"]
    with pytest.raises(ContractViolationError, match="code"):
        check_outgoing(contracts.LIFECYCLE_PUBLISHED, published)
    with pytest.raises(ContractViolationError):
        check_outgoing(contracts.LIFECYCLE_PUBLISHED, {})
    check_outgoing("lifecycle.item.submitted.v1", {"anything": "internal events are the producer's own"})


def test_a_consumer_refuses_an_empty_published_event_and_a_forged_registration_without_elements() -> None:
    with pytest.raises(ContractViolationError):
        read_incoming(contracts.LIFECYCLE_PUBLISHED, {})
    with pytest.raises(ContractViolationError, match="elements"):
        read_incoming(contracts.LIFECYCLE_REGISTRATION_REQUESTED, {"revision": 1, "at": "2026-12-07T00:00:00Z"})


def test_an_old_draft_is_upcast_to_the_current_version() -> None:
    v1 = {**CONTRACTS[contracts.REGISTRY_ITEM_DRAFTED].example, "changed_fields": list(ITEM.keys)}
    event_type, data = read_incoming(contracts.REGISTRY_ITEM_DRAFTED_V1, v1)
    assert event_type == contracts.REGISTRY_ITEM_DRAFTED and "changed_fields" not in data
    assert contracts.current_type(contracts.REGISTRY_ITEM_DRAFTED_V1) == contracts.REGISTRY_ITEM_DRAFTED
    with pytest.raises(ContractViolationError):
        read_incoming(contracts.REGISTRY_ITEM_DRAFTED_V1, {"changed_fields": []})


def test_the_published_elements_are_the_elements_the_table_publishes_and_nothing_else() -> None:
    """A field the registry adds is published unless the element table says why not (NotPublished): the feed never
    drops one silently, and nothing internal slips into the published schema."""
    published = [f.key for f in ELEMENTS if isinstance(f.published, Published)]
    assert list(PublishedElements.model_fields) == published == list(ITEM.keys)
    guide = next(m for m in get_args(PublishedElements.model_fields["service_guide"].annotation) if m is not type(None))
    assert list(guide.model_fields) == list(SERVICE_GUIDE.keys)
    assert not {"author", "phase", "phase_label", "at", "pending", "import_job_id"} & set(
        PublishedItemRecord.model_fields)


def test_the_elements_the_events_promise_are_elements_of_the_table_with_its_requirements() -> None:
    """The event contracts name the few elements other services rely on; each is the table's, as required."""
    table = {f.key: f for f in ELEMENTS}
    for model in (ContractElements, CodedElements):
        for name, info in model.model_fields.items():
            assert name in table, f"{model.__name__}.{name} is not an element"
            assert info.is_required() == (table[name].required is DRAFT), f"{model.__name__}.{name}"
    assert tuple(CodedElements.model_fields) == contracts.CODED_ELEMENTS


def test_the_vocabulary_is_the_one_every_service_uses() -> None:
    from coding.domain.allocation import CODED_ELEMENTS as CODING_CODED
    from lifecycle.domain.vocabulary import CODED_ELEMENTS as LIFECYCLE_CODED
    from lifecycle.domain.vocabulary import PHASE_LABELS as LIFECYCLE_LABELS

    assert CODING_CODED is LIFECYCLE_CODED is contracts.CODED_ELEMENTS
    assert LIFECYCLE_LABELS is contracts.PHASE_LABELS
