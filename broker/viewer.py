"""The desktop viewer page: /desktops/<id>/view?protocol=guacamole|novnc&mode=control|view|help|demo, and
/start/<type>?protocol=… where the dashboard's Start leads: the same viewer, which first starts the
person's desktop of that type (showing how far the start is) and then connects to it.

Thin on purpose: the page's script asks POST /api/container/start and POST
/api/desktops/<id>/connect, which decide who may start and open what and say why not. The
viewer's code is built from web/ into static/app/.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

from broker.auth.current import current_session
from broker.errors import Invalid
from broker.tunnels.service import MODES, PROTOCOLS

bp = Blueprint("viewer", __name__)


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    """?name= from `allowed`; the first is the default."""
    value = request.args.get(name, allowed[0])
    if value not in allowed:
        raise Invalid(f"{name} is one of: {', '.join(allowed)}.", code=f"bad_{name}")
    return value


@bp.get("/desktops/<key:desktop_id>/view")
def view(desktop_id: str):
    record = current_session()
    if record is None:
        return redirect("/")
    return render_template(
        "viewer.html",
        csrf_token=record.csrf_token,
        desktop_id=desktop_id,
        protocol=_choice("protocol", PROTOCOLS),
        mode=_choice("mode", MODES),
    )


@bp.get("/start/<key:type_id>")
def start_and_view(type_id: str):
    record = current_session()
    if record is None:
        return redirect("/")
    # A person starts only their own desktop: always in control.
    return render_template(
        "viewer.html",
        csrf_token=record.csrf_token,
        desktop_id="",
        start_type=type_id,
        protocol=_choice("protocol", PROTOCOLS),
        mode="control",
    )
