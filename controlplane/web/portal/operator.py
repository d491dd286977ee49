"""The operator's own objects: carriers and their trunks (registration state from the edge), media nodes (the
dispatcher's view), rate decks (upload as a background job with progress, errors by line, export) and plans.
Every page is for operators only (404 for any tenant scope)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import func, select
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from controlplane.errors import DomainError
from controlplane.jobs import job_state
from controlplane.jobs.decks import enqueue_import
from controlplane.models import DeckKind, Status, Tenant
from controlplane.services import carriers, decks, nodes, plans
from controlplane.web import session as db_session
from controlplane.web.portal.context import is_operator, page
from controlplane.web.portal.forms import ActionForm, submitted

bp = Blueprint("operator", __name__, template_folder="templates")


class CarrierForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=128)])
    host = StringField("Host or address", validators=[DataRequired(), Length(max=190)])
    port = IntegerField("Port", default=5060)
    transport = SelectField("Transport", choices=[("udp", "UDP"), ("tcp", "TCP"), ("tls", "TLS")])
    buy_deck = SelectField("Buy deck", choices=[], validate_choice=False)
    priority = IntegerField("Priority (lower first)", default=10)
    max_channels = IntegerField("Channels (empty: no limit)", validators=[Optional()])


class NodeForm(FlaskForm):
    name = StringField("Switchname", validators=[DataRequired(), Length(max=64)])
    sip = StringField("SIP address (host[:port])", validators=[DataRequired()])
    esl = StringField("Inbound ESL (host[:port], empty: the SIP host)", validators=[Optional()])
    weight = IntegerField("Weight (1-100)", default=50)


class DeckUploadForm(FlaskForm):
    name = StringField("Deck name", validators=[DataRequired(), Length(max=128)])
    kind = SelectField("Kind", choices=[("sell", "Sell (what tenants pay)"), ("buy", "Buy (what a carrier costs)")])
    currency = StringField("Currency", default="USD", validators=[DataRequired(), Length(min=3, max=3)])
    csv = FileField("CSV file", validators=[FileRequired()])


class PlanForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=128)])
    decks = StringField("Decks, in order (comma-separated)", validators=[DataRequired()])
    markup_pct = StringField("Markup %", default="0")


def _edge_sync() -> None:
    from controlplane.kamailio.tables import sync

    report = sync(db_session.current())
    if not report.ok:
        flash("The SIP edge did not answer: it loads the change when it starts.", "error")


@bp.route("/carriers", methods=["GET", "POST"])
@page(is_operator)
def carrier_list():  # noqa: ANN201
    db = db_session.current()
    form = CarrierForm()
    form.buy_deck.choices = [("", "(none)")] + [(d.name, d.name) for d in decks.list_decks(db, g.scope)]
    carrier, status = submitted(form, lambda: carriers.create_carrier(
        db, g.scope, name=form.name.data, host=form.host.data, port=form.port.data or 5060,
        transport=form.transport.data, buy_deck=form.buy_deck.data or None, priority=form.priority.data or 10,
        max_channels=form.max_channels.data))
    if carrier is not None:
        _edge_sync()
        flash(f"Carrier {carrier.name} created.", "success")
        return redirect(url_for("portal.operator.carrier_list"))
    registrations = {}
    try:
        from controlplane.kamailio.rpc import KamailioRpc

        registrations = {r.l_uuid: r for r in KamailioRpc().carrier_registrations()}
    except Exception:  # noqa: BLE001 - the page shows the carriers whether the edge answers or not
        registrations = None
    return render_template("portal/carriers.html", rows=carriers.list_carriers(db, g.scope), form=form,
                           registrations=registrations, action=ActionForm()), status


@bp.post("/carriers/<int:carrier_id>/<any(enable, disable):verb>")
@page(is_operator)
def carrier_status(carrier_id: int, verb: str):  # noqa: ANN201
    db = db_session.current()
    if ActionForm().validate_on_submit():
        carrier = carriers.get_carrier(db, g.scope, carrier_id)
        carriers.set_carrier_status(db, g.scope, carrier, Status.ACTIVE if verb == "enable" else Status.DISABLED)
        db.commit()
        _edge_sync()
    return redirect(url_for("portal.operator.carrier_list"))


@bp.route("/nodes", methods=["GET", "POST"])
@page(is_operator)
def node_list():  # noqa: ANN201
    db = db_session.current()
    form = NodeForm()
    node, status = submitted(form, lambda: nodes.add_node(db, g.scope, name=form.name.data, sip=form.sip.data,
                                                          esl=form.esl.data or None, weight=form.weight.data or 50))
    if node is not None:
        _edge_sync()
        return redirect(url_for("portal.operator.node_list"))
    try:
        from controlplane.kamailio.rpc import KamailioRpc

        dispatcher = {s.uri: s for s in KamailioRpc().media_nodes()}
    except Exception:  # noqa: BLE001
        dispatcher = None
    return render_template("portal/nodes.html", rows=nodes.visible_nodes(db, g.scope), form=form,
                           dispatcher=dispatcher, action=ActionForm()), status


@bp.post("/nodes/<string:name>/<any(enable, disable):verb>")
@page(is_operator)
def node_status(name: str, verb: str):  # noqa: ANN201
    db = db_session.current()
    if ActionForm().validate_on_submit():
        try:
            nodes.set_status(db, g.scope, name, Status.ACTIVE if verb == "enable" else Status.DISABLED)
            db.commit()
            _edge_sync()
        except DomainError as exc:
            db.rollback()
            flash(str(exc), "error")
    return redirect(url_for("portal.operator.node_list"))


@bp.route("/decks", methods=["GET", "POST"])
@page(is_operator)
def deck_list():  # noqa: ANN201
    db = db_session.current()
    form = DeckUploadForm()
    if form.validate_on_submit():
        text = form.csv.data.read().decode("utf-8-sig", errors="replace")
        if not text.strip():
            form.csv.errors = ["the file is empty"]
        else:
            job = enqueue_import(g.scope, form.name.data.strip(), text, DeckKind(form.kind.data),
                                 form.currency.data.upper())
            return redirect(url_for("portal.operator.deck_job", job_id=job.id))
    return render_template("portal/decks.html", rows=decks.list_decks(db, g.scope), form=form)


@bp.get("/decks/jobs/<string:job_id>")
@page(is_operator)
def deck_job(job_id: str):  # noqa: ANN201
    """The upload's progress: refreshed by htmx until it finishes; a reload shows the same (the job id is the URL)."""
    state = job_state(job_id, g.scope)
    partial = request.headers.get("HX-Request") == "true"
    return render_template("portal/_deck_job.html" if partial else "portal/deck_job.html", job=state)


@bp.route("/plans-admin", methods=["GET", "POST"], endpoint="plan_list")
@page(is_operator)
def plan_list():  # noqa: ANN201
    db = db_session.current()
    form = PlanForm()
    plan, status = submitted(form, lambda: plans.create_plan(
        db, g.scope, name=form.name.data, decks=[d.strip() for d in form.decks.data.split(",") if d.strip()],
        markup_pct=form.markup_pct.data or "0"))
    if plan is not None:
        return redirect(url_for("portal.operator.plan_list"))
    rows = plans.list_plans(db, g.scope)
    names = {d.id: d.name for d in decks.list_decks(db, g.scope)}
    on_plan = dict(db.execute(select(Tenant.plan_id, func.count(Tenant.id)).group_by(Tenant.plan_id)).all())
    return render_template("portal/plans_admin.html", rows=rows, names=names, form=form, on_plan=on_plan), status
