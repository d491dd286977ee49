"""FreeSWITCH's own CDR push as a real node sends it: every body mod_json_cdr can send is taken, and
nothing else is.

A real node rendered by `controlplane freeswitch render` (disable-100-continue) sends raw JSON labelled
`application/x-www-form-urlencoded`: curl's default once mod_json_cdr's header list is replaced by
`Expect:` alone (mod_json_cdr.c, v1.10.12). Before the endpoint read the body raw, every push from a
real node was refused with 400.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal as D
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from controlplane.models import Cdr
from controlplane.web import create_app

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "freeswitch-reference" / "j1_json_cdr_a_leg.pretty.json"
AUTH = "fs-node:cdr-secret"


def document(uuid: str = "9a6c7f0e-0000-4000-8000-000000000001") -> dict:
    """An A-leg document shaped as mod_json_cdr's (values URL-encoded, numbers as strings)."""
    return {"core-uuid": "c45ca1fa", "switchname": "fs-node-1", "variables": {
        "direction": "inbound", "uuid": uuid, "sip_from_user": "%2B4930111222", "sip_req_user": "%2B4930555020",
        "hangup_cause": "NORMAL_CLEARING", "start_epoch": "1795364599", "answer_epoch": "1795364599",
        "end_epoch": "1795364603", "duration": "4", "billsec": "4", "caller_id": "%22O%27Brien%20%5C%22%3C1%3E",
        "cp_caller_name": "O%27Brien%20%5C%20x"}}


@pytest.fixture()
def client(clean_db: str, redis_client):  # noqa: ANN201
    app = create_app({"CDR_PUSH_CREDENTIALS": AUTH, "TESTING": True})
    return app.test_client()


def headers(content_type: str | None, auth: str | None = AUTH) -> dict[str, str]:
    out = {"User-Agent": "freeswitch-json/1.0"}
    if content_type:
        out["Content-Type"] = content_type
    if auth:
        out["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return out


def count(session, uuid: str) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Cdr).where(Cdr.uuid == uuid))


BODIES = {
    # what a node with the production config sends: raw JSON under curl's default content type
    "disable-100-continue": ("application/x-www-form-urlencoded", lambda doc: json.dumps(doc).encode()),
    "encode=false": ("application/json", lambda doc: json.dumps(doc).encode()),
    "encode=true": ("application/x-www-form-urlencoded", lambda doc: b"cdr=" + quote(json.dumps(doc)).encode()),
    "encode=base64": ("application/x-www-form-base64-encoded",
                      lambda doc: b"cdr=" + base64.b64encode(json.dumps(doc).encode())),
}


@pytest.mark.parametrize("style", list(BODIES))
def test_every_body_mod_json_cdr_sends_is_written_once(client, session, style: str) -> None:
    doc = document(f"9a6c7f0e-0000-4000-8000-{list(BODIES).index(style):012d}")
    uuid = doc["variables"]["uuid"]
    content_type, encode = BODIES[style]
    reply = client.post(f"/api/v1/cdr/freeswitch?uuid={uuid}", data=encode(doc), headers=headers(content_type))
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.get_json()["result"] == "written"
    again = client.post(f"/api/v1/cdr/freeswitch?uuid={uuid}", data=encode(doc), headers=headers(content_type))
    assert again.get_json()["result"] == "duplicate"
    assert count(session, uuid) == 1
    cdr = session.scalar(select(Cdr).where(Cdr.uuid == uuid))
    assert cdr.billsec == 4 and cdr.duration == 4
    assert cdr.caller_id_name == "O'Brien \\ x"  # quotes and backslashes survive the encodings
    assert cdr.start_at is not None and cdr.end_at is not None


def test_the_recorded_real_node_document_is_taken(client, session) -> None:
    if not REFERENCE.exists():
        pytest.skip(f"reference transcripts not beside the repository ({REFERENCE})")
    doc = json.loads(REFERENCE.read_text())
    uuid = doc["variables"]["uuid"]
    body = json.dumps(doc, separators=(",", ":")).encode()
    reply = client.post(f"/api/v1/cdr/freeswitch?uuid={uuid}", data=body,
                        headers=headers("application/x-www-form-urlencoded"))
    assert reply.status_code == 200 and reply.get_json()["result"] == "written"
    cdr = session.scalar(select(Cdr).where(Cdr.uuid == uuid))
    assert cdr.billsec == int(doc["variables"]["billsec"])


@pytest.mark.parametrize("auth", [None, "fs-node:wrong", "other:cdr-secret"])
def test_a_push_without_the_node_credentials_is_refused_and_writes_nothing(client, session, auth) -> None:
    doc = document("9a6c7f0e-0000-4000-8000-00000000aaaa")
    reply = client.post("/api/v1/cdr/freeswitch", data=json.dumps(doc), headers=headers("application/json", auth))
    assert reply.status_code == 401
    assert count(session, doc["variables"]["uuid"]) == 0


@pytest.mark.parametrize("body", [b"", b"not json", b"cdr=%7Bbroken", b"cdr=!!!!", b"[1,2]", b'{"variables": 3}',
                                  b'{"variables": {"billsec": "3"}}', b"\xff\xfe"])
def test_a_body_that_is_not_a_cdr_is_refused_with_400(client, session, body: bytes) -> None:
    reply = client.post("/api/v1/cdr/freeswitch", data=body, headers=headers("application/x-www-form-urlencoded"))
    assert reply.status_code == 400
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Cdr)) == 0


def test_profile_times_compute_billsec_as_freeswitch_does() -> None:
    """Times shaped as in b_bridge_answered_farend_hangs_up: Caller-Channel-*-Time, and the socket app's
    EXECUTE_COMPLETE stamp standing in while Hangup-Time still reads 0."""
    from controlplane.freeswitch.cdr_variables import profile_times

    created, answered, hung_up = 1795364493791380, 1795364494311383, 1795364497331391
    seen = {"Caller-Channel-Created-Time": str(created), "Caller-Channel-Answered-Time": str(answered),
            "Caller-Channel-Hangup-Time": "0", "Hangup-Event-Date-Timestamp": str(hung_up)}
    times = profile_times(seen)
    # whole seconds, subtracted: 1795364497 - 1795364494 = 3, though 3.02 s passed; duration 4 (3.54 s)
    assert times == {"start_epoch": "1795364493", "answer_epoch": "1795364494", "end_epoch": "1795364497",
                     "duration": "4", "billsec": "3"}
    assert profile_times({**seen, "Caller-Channel-Hangup-Time": str(hung_up + 1_000_000)})["billsec"] == "4"
    unanswered = profile_times({**seen, "Caller-Channel-Answered-Time": "0"})
    assert (unanswered["billsec"], unanswered["answer_epoch"]) == ("0", "0")
    assert profile_times({"Caller-Channel-Created-Time": str(created)}) == {}  # no end known
    assert profile_times({**seen, "Hangup-Event-Date-Timestamp": str(created - 1)}) == {}  # contradictory


def test_a_call_answered_and_ended_in_the_same_second_is_answered_and_pays_its_first_block() -> None:
    """billsec 0 (end_epoch - answer_epoch in whole seconds) with an answer time: ANSWERED, charged, on the
    push path too, where the attempts were set on the channel before the answer."""
    from controlplane.core.rating import PrefixIndex, RateRow, RatingContext, find_rate
    from controlplane.freeswitch.cdr_variables import record_from_variables
    from controlplane.state.rating_codec import dump_match

    ctx = RatingContext(currency="EUR",
                        plan_decks=[PrefixIndex([RateRow("49", "Germany", D("0.60"), 60, 60, D("0.05"))])])
    match = find_rate("49891234567", ctx)
    v = {"uuid": "same-second", "billsec": "0", "start_epoch": "1795364493", "answer_epoch": "1795364494",
         "end_epoch": "1795364494", "duration": "1", "hangup_cause": "ALLOTTED_TIMEOUT",
         "cp_attempts": '[{"trunk_id":1,"trunk":"a","cause":null,"sip_code":null,"answered":false}]',
         "cp_rating": dump_match(match, ctx), "cp_direction": "outbound"}
    record, _, _ = record_from_variables(v, "freeswitch")
    assert (record.disposition, record.trunk_id, record.charged_seconds) == ("ANSWERED", 1, 60)
    assert record.cost == D("0.6500")  # connect 0.05 + the first minute
    unanswered, _, _ = record_from_variables({**v, "answer_epoch": "0"}, "freeswitch")
    assert (unanswered.disposition, unanswered.cost) == ("NO ANSWER", D(0))
