"""The `controlplane` command as an operator runs it: real process, real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from controlplane.cli import main
from controlplane.models import AuditLog, Did, LedgerEntry, SipAccount, Tenant
from controlplane.services.accounts import ha1


def cp_process(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The command as a real process, the way an operator's shell runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "controlplane.cli", *args], capture_output=True, text=True, env=os.environ.copy(),
        timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
    return result


def cp(*args: str, check: bool = True) -> Result:
    """The same command in-process (click's runner): same code path, no interpreter start-up."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    result.returncode = result.exit_code
    if check and result.exit_code != 0:
        raise AssertionError(f"{args} exited {result.exit_code}: {result.stderr}")
    return result


@pytest.fixture()
def world(clean_db: str, tmp_path: Path) -> Path:
    (tmp_path / "retail.csv").write_text(
        "prefix,destination,rate,initblock,billingblock,connectcharge\n"
        "9,Turkey other,0.10,60,60,0\n90,Turkey,0.05,30,6,0.01\n905,Turkey mobile,0.12,1,1,0\n"
    )
    (tmp_path / "a.csv").write_text("90,Turkey,0.03,1,1,0\n905,Turkey mobile,0.08,1,1,0\n")
    (tmp_path / "b.csv").write_text("905,Turkey mobile,0.07,1,1,0\n")
    cp("deck", "import", "--name", "retail", str(tmp_path / "retail.csv"))
    cp("deck", "import", "--name", "buy-a", "--buy", str(tmp_path / "a.csv"))
    cp("deck", "import", "--name", "buy-b", "--buy", str(tmp_path / "b.csv"))
    cp("plan", "create", "--name", "basic", "--deck", "retail", "--markup", "10")
    cp("carrier", "create", "--name", "carrA", "--host", "192.0.2.1", "--buy-deck", "buy-a")
    cp("carrier", "create", "--name", "carrB", "--host", "192.0.2.2", "--buy-deck", "buy-b", "--priority", "5",
       "--max-channels", "30")
    cp("tenant", "create", "--name", "res1", "--reseller", "--margin", "20")
    cp("tenant", "create", "--name", "acme", "--realm", "acme.voice.example.com", "--parent", "res1",
       "--plan", "basic")
    return tmp_path


def test_operator_flow_and_quote(world: Path, session) -> None:
    out = cp_process("credit", "add", "--tenant", "acme", "--amount", "10.50", "--note", "welcome").stdout
    assert "balance 10.5" in out
    created = cp_process("sip-account", "create", "--tenant", "acme", "--username", "1000").stdout
    password = created.split("password (shown once): ")[1].strip()
    account = session.scalar(select(SipAccount).where(SipAccount.username == "1000"))
    assert account.ha1 == ha1("1000", "acme.voice.example.com", password)
    assert password not in {account.ha1, account.ha1b}
    cp("did", "add", "--tenant", "acme", "--number", "+4930555000", "--to-account", "1000")
    assert session.scalar(select(Did.sip_account_id).where(Did.number == "4930555000")) == account.id

    q = json.loads(cp_process("quote", "--tenant", "acme", "--number", "905551234567", "--billsec", "61").stdout)
    assert (q["prefix"], q["destination"], q["source"], q["currency"]) == ("905", "Turkey mobile", "plan", "USD")
    assert q["charged_seconds"] == 61
    # 0.12 x 1.10 (plan) = 0.132/min wholesale; x 1.20 (reseller) = 0.1584/min for the client
    assert [(lv["level"], lv["cost"]) for lv in q["chain"]] == [("wholesale", "0.1342"), ("res1", "0.1610")]
    assert (q["rate"], q["cost"]) == ("0.1584", "0.1610")
    assert [(r["trunk"], r["buy_rate"], r["buy_cost"], r["margin"]) for r in q["routes"]] == [
        ("carrB", "0.07", "0.0712", "0.0630"),
        ("carrA", "0.08", "0.0813", "0.0529"),
    ]


def test_quote_of_an_answered_zero_second_call_pays_connect_and_first_block(world: Path) -> None:
    # Grace 0 (PortSIP's formula, seed 004): only calls shorter than grace are free.
    q = json.loads(cp("quote", "--tenant", "acme", "--number", "9012345", "--billsec", "0").stdout)
    assert (q["prefix"], q["charged_seconds"], q["billing_blocks"]) == ("90", 30, 1)
    # (0.01 connect + 30 s x 0.05/60) x 1.10 plan x 1.20 reseller
    assert [(lv["level"], lv["cost"]) for lv in q["chain"]] == [("wholesale", "0.0385"), ("res1", "0.0462")]


def test_default_deck_rates_a_tenant_without_plan_and_is_audited(world: Path, session) -> None:
    cp("tenant", "create", "--name", "solo", "--realm", "solo.example.com")
    assert "default deck: retail" in cp("deck", "set-default", "--name", "retail").stdout
    q = json.loads(cp("quote", "--tenant", "solo", "--number", "905551234567", "--billsec", "60").stdout)
    assert (q["prefix"], q["source"]) == ("905", "default")
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "deck.set_default"))
    assert (entry.actor, entry.details["name"]) == ("cli", "retail")
    missing = cp("deck", "set-default", "--name", "nope", check=False)
    assert (missing.returncode, missing.stderr.strip()) == (3, "error: rate deck 'nope' not found")

def test_postpaid_tenant_and_credit_limit(world: Path, session) -> None:
    cp("tenant", "create", "--name", "bigco", "--realm", "bigco.example.com", "--postpaid", "--credit-limit", "500")
    t = session.scalar(select(Tenant).where(Tenant.name == "bigco"))
    assert (t.billing_type.value, t.credit_limit) == ("postpaid", D("500"))


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("tenant", "create", "--name", "x", "--realm", "not a realm"), 2, "realm"),
        (("tenant", "create", "--name", "acme", "--realm", "other.example.com"), 5, "exists already"),
        (("tenant", "create", "--name", "y", "--realm", "acme.voice.example.com"), 5, "another tenant"),
        (("tenant", "create", "--name", "z", "--realm", "z.example.com", "--credit-limit", "5"), 2, "postpaid"),
        (("credit", "add", "--tenant", "nobody", "--amount", "1", "--note", "n"), 3, "not found"),
        (("credit", "add", "--tenant", "acme", "--amount", "lots", "--note", "n"), 2, "not a number"),
        (("plan", "create", "--name", "p2", "--deck", "missing"), 2, "not found"),
        (("carrier", "create", "--name", "c", "--host", "bad host!"), 2, "host"),
        (("sip-account", "create", "--tenant", "acme", "--username", "bad user"), 2, "username"),
        (("did", "add", "--tenant", "acme", "--number", "12ab"), 2, "E.164"),
        (("quote", "--tenant", "acme", "--number", "1234", "--billsec", "5"), 3, "no rate"),
        (("quote", "--tenant", "acme", "--number", "12x4", "--billsec", "5"), 2, "number"),
        (("quote", "--tenant", "acme", "--number", "905", "--billsec", "-1"), 2, "billsec"),
    ],
)
def test_bad_arguments_get_one_line_and_nonzero_exit(world: Path, args: tuple[str, ...], code: int,
                                                      message: str) -> None:
    result = cp(*args, check=False)
    assert result.returncode == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_deck_import_reports_lines_and_changes_nothing(world: Path, session) -> None:
    bad = world / "bad.csv"
    bad.write_text("1,US,0.01,1,1,0\n2,X,-1,1,1,0\n3a,Y,0.01,1,1,0\n")
    result = cp_process("deck", "import", "--name", "retail", str(bad), check=False)
    assert result.returncode == 2
    assert "line 2: rate -1 is negative" in result.stderr
    assert "line 3: prefix '3a'" in result.stderr
    assert "nothing imported" in result.stderr
    q = json.loads(cp("quote", "--tenant", "acme", "--number", "905551234567", "--billsec", "1").stdout)
    assert q["prefix"] == "905"


def test_export_writes_the_same_csv(world: Path) -> None:
    out = world / "out.csv"
    cp("deck", "export", "--name", "retail", "--out", str(out))
    lines = out.read_text().splitlines()
    assert lines[0].startswith("prefix,destination,rate,initblock,billingblock,connectcharge")
    assert lines[1:] == ["9,Turkey other,0.1,60,60,0,0,0,0,,", "90,Turkey,0.05,30,6,0.01,0,0,0,,",
                         "905,Turkey mobile,0.12,1,1,0,0,0,0,,"]


def test_admin_is_created_once(clean_db: str, session) -> None:
    first = cp("user", "ensure-admin").stdout
    assert "with password:" in first
    assert "admin exists" in cp("user", "ensure-admin").stdout


def test_credit_is_audited_and_ledgered(world: Path, session) -> None:
    cp("credit", "add", "--tenant", "acme", "--amount", "3", "--note", "promo")
    entry = session.scalar(select(LedgerEntry))
    assert (entry.amount, entry.note, entry.actor) == (D("3"), "promo", "cli")
