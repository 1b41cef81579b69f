"""The desktop viewer page: /desktops/<id>/view?protocol=guacamole|novnc&mode=control|view|help|demo.

Thin on purpose: the page's script asks POST /api/desktops/<id>/connect, which decides who may
open what and says why not. The viewer's code is built from web/ into static/app/.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

from broker.auth.current import current_user
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
    if current_user() is None:
        return redirect("/")
    return render_template(
        "viewer.html", desktop_id=desktop_id, protocol=_choice("protocol", PROTOCOLS), mode=_choice("mode", MODES)
    )
