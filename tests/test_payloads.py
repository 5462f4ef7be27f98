"""One wire format: the field lists of inquiries/payloads.py are what the builders produce, what
the API documents, what a step event carries and what the admin's CSV export starts from."""

from inquiries import payloads
from inquiries.admin import CSV_COLUMNS
from inquiries.api.v1.schemas import RunListItem, RunStatusOut, StepOut
from testutils.factories import make_run, make_step


def test_the_api_schemas_list_exactly_the_payload_fields():
    assert tuple(RunStatusOut.model_fields) == payloads.RUN_STATUS_FIELDS
    assert tuple(StepOut.model_fields) == payloads.STEP_FIELDS
    assert tuple(RunListItem.model_fields) == payloads.RUN_LIST_FIELDS


def test_the_builders_produce_exactly_the_listed_fields(db):
    run = make_run()
    step = make_step(run=run, sequence=1)
    status = payloads.run_status_payload(run)
    assert tuple(status) == payloads.RUN_STATUS_FIELDS
    assert tuple(status["agent_steps"][0]) == tuple(payloads.step_payload(step)) == payloads.STEP_FIELDS
    assert tuple(payloads.run_list_item(run)) == payloads.RUN_LIST_FIELDS
    assert tuple(payloads.step_event_run(status)) == payloads.STEP_EVENT_RUN_FIELDS


def test_step_events_and_the_csv_export_take_their_fields_from_run_status():
    assert set(payloads.STEP_EVENT_RUN_FIELDS) <= set(payloads.RUN_STATUS_FIELDS)
    # The CSV starts with the public fields (nested ones left out), then what an auditor needs.
    public = [f for f in payloads.RUN_STATUS_FIELDS if f not in ("agent_steps", "escalation_reasons")]
    assert set(public) <= set(CSV_COLUMNS)
