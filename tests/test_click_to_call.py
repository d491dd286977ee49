"""Click-to-call's trust boundary (core/click_to_call.py): who a leg is for comes only from a leg the node
originated, and nothing a user types can reach the originate command as anything but a number."""

from __future__ import annotations

import pytest

from controlplane.core.click_to_call import AUTH, click_to_call_of, originate_command

ORIGINATED = {"Call-Direction": "outbound", "variable_cp_c2c_account": "7", "variable_cp_c2c_tenant": "3",
              "variable_cp_c2c_destination": "+4930555123", "variable_cp_c2c_caller": "1000"}


def test_an_originated_leg_names_its_account():
    c2c = click_to_call_of(ORIGINATED)
    assert c2c is not None
    assert (c2c.caller.auth, c2c.caller.tenant_id, c2c.caller.account_id) == (AUTH, 3, 7)
    assert (c2c.destination, c2c.caller_id) == ("+4930555123", "1000")


@pytest.mark.parametrize("forged", [
    {**ORIGINATED, "Call-Direction": "inbound"},  # a call that came in: never trusted, whatever its variables
    {**ORIGINATED, "variable_cp_c2c_account": "7 OR 1"},
    {**ORIGINATED, "variable_cp_c2c_tenant": ""},
    {"Call-Direction": "outbound", "variable_cp_c2c_account": "7"},
])
def test_anything_else_is_not_a_click_to_call(forged):
    assert click_to_call_of(forged) is None


def test_an_ordinary_call_is_not_one():
    assert click_to_call_of({"Call-Direction": "inbound", "variable_sip_h_X-CP-Auth": "digest"}) is None


@pytest.mark.parametrize("destination", ["4930}sofia/x", "1 XML public", "49,cp_c2c_account=1", "49;x", "", "४९"])
def test_a_destination_that_is_not_a_number_never_reaches_the_command(destination):
    with pytest.raises(ValueError):
        originate_command("u", 1, 2, destination, "1000", "sofia/controlplane/1000@acme.example", 30)


def test_the_command_rings_the_phone_into_the_controllers_context():
    cmd = originate_command("abc", 7, 3, "+4930555123", "1000", "sofia/controlplane/1000@acme.example", 30)
    assert cmd.startswith("originate {origination_uuid=abc,cp_c2c_account=7,cp_c2c_tenant=3,")
    assert cmd.endswith("}sofia/controlplane/1000@acme.example +4930555123 XML controlplane")


def test_an_unanswered_click_to_calls_cdr_is_the_tenants_and_free():
    """A real node posts the CDR of an originate the phone never answered (seen on 1.10.12); no controller set
    any cp_* variable, so the originate's own say whose it is."""
    from controlplane.freeswitch.cdr_variables import record_from_variables

    record, match, _ = record_from_variables({
        "uuid": "c2c-1", "direction": "outbound", "cp_c2c_account": "7", "cp_c2c_tenant": "3",
        "cp_c2c_destination": "+4930555123", "cp_c2c_caller": "1000", "start_epoch": "1796000000",
        "answer_epoch": "0", "end_epoch": "1796000030", "duration": "30", "billsec": "0",
        "hangup_cause": "NO_ANSWER", "sip_from_user": "4930555123"}, "freeswitch", "fs-1")
    assert (record.tenant_id, record.sip_account_id, record.dialed, record.caller_id_number) == (
        3, 7, "+4930555123", "1000")
    assert record.billsec == 0 and record.disposition == "NO ANSWER" and match is None
    assert record.reason == "click-to-call: the phone did not answer"


def test_a_click_to_call_answered_by_the_phone_only_bills_nothing_before_the_bridge():
    from controlplane.freeswitch.cdr_variables import record_from_variables

    record, _, _ = record_from_variables({
        "uuid": "c2c-2", "cp_c2c_account": "7", "cp_c2c_tenant": "3", "start_epoch": "1796000000",
        "answer_epoch": "1796000002", "bridge_epoch": "0", "end_epoch": "1796000040", "billsec": "38",
        "hangup_cause": "NORMAL_CLEARING"}, "freeswitch", "fs-1")
    assert record.billsec == 0 and record.answer_at is None  # the phone talked to no one: nothing to bill
