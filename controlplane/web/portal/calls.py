"""Live calls, refreshing themselves (htmx polls the table), and hanging one up on its node."""

from __future__ import annotations

import time

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from controlplane.errors import DomainError
from controlplane.services import call_control
from controlplane.state.live_calls import LiveCalls
from controlplane.web.portal.context import page
from controlplane.web.portal.forms import ActionForm

bp = Blueprint("calls", __name__, url_prefix="/calls", template_folder="templates")


def _calls() -> list:
    scope = g.scope
    return call_control.list_calls(LiveCalls.connect(), scope, None if scope.everything else set(scope.tenant_ids))


@bp.get("")
@page()
def live():  # noqa: ANN201
    template = "portal/_calls_table.html" if request.headers.get("HX-Request") else "portal/calls.html"
    return render_template(template, calls=sorted(_calls(), key=lambda c: c.started_at or 0), now=time.time(),
                           action=ActionForm())


@bp.post("/<string:uuid>/hangup")
@page()
def hangup(uuid: str):  # noqa: ANN201
    if ActionForm().validate_on_submit():
        from controlplane.freeswitch import esl_client

        try:
            call_control.hangup_call(LiveCalls.connect(), g.scope, uuid, esl_client.api)
            flash("Hung up.", "success")
        except DomainError as exc:
            flash(str(exc), "error")
    return redirect(url_for("portal.calls.live"))
