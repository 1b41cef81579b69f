"""Which desktop types a person may start, and the quotas, on SQLite and PostgreSQL (no engine needed)."""

import uuid

import pytest

from broker.auth.users import create_local_user
from broker.desktops.access import allowed_type, allowed_types, quota_problem
from broker.desktops.errors import NoDesktop, NotAllowed
from broker.models import Desktop, DesktopType, DesktopTypeAssignment, Group
from tests.fixtures.broker import make_settings


def kind(type_id, **values):
    return DesktopType(
        id=type_id, image=f"deskbroker/{type_id}:latest", title_en=type_id.upper(), title_de=type_id.upper(), **values
    )


@pytest.fixture
def people(db):
    class_5a, class_6b = Group(key="5a", name="Klasse 5a"), Group(key="6b", name="Klasse 6b")
    anna, _ = create_local_user(db, "anna", "long enough password")
    ben, _ = create_local_user(db, "ben", "long enough password")
    root, _ = create_local_user(db, "root", "long enough password", ["admin"])
    anna.groups.append(class_5a)
    ben.groups.append(class_6b)
    db.add_all([kind("base"), kind("xfce"), kind("chromium"), kind("old", enabled=False), class_5a, class_6b])
    db.flush()
    db.add_all(
        [
            DesktopTypeAssignment(desktop_type_id="xfce", group_id=class_5a.id),
            DesktopTypeAssignment(desktop_type_id="chromium", user_id=ben.id),
        ]
    )
    db.commit()
    return anna, ben, root


def test_types_without_assignments_are_open_and_assigned_ones_only_for_their_groups_and_people(db, people):
    anna, ben, root = people
    assert [t.id for t in allowed_types(db, anna)] == ["base", "xfce"]
    assert [t.id for t in allowed_types(db, ben)] == ["base", "chromium"]
    assert [t.id for t in allowed_types(db, root)] == ["base", "chromium", "xfce"]
    assert allowed_type(db, anna, "xfce").id == "xfce"
    with pytest.raises(NotAllowed, match="You may not start the desktop type 'XFCE'"):
        allowed_type(db, ben, "xfce")
    with pytest.raises(NoDesktop, match="no desktop type 'old'"):
        allowed_type(db, root, "old")
    with pytest.raises(NoDesktop):
        allowed_type(db, anna, "nonexistent")


def test_an_assignment_is_for_a_group_or_a_person_not_both(db, people):
    anna, _ben, _root = people
    db.add(DesktopTypeAssignment(desktop_type_id="base", group_id=anna.groups[0].id, user_id=anna.id))
    with pytest.raises(Exception, match=r"(?i)constraint"):
        db.commit()


def add_desktop(db, user, type_id, state):
    db.add(Desktop(id=str(uuid.uuid4()), user_id=user.id if user else None, desktop_type_id=type_id, state=state))
    db.commit()


def test_quotas_count_active_desktops_with_a_clear_message(db, people):
    """Called after the desktop being started was claimed: the counts include it."""
    anna, ben, root = people
    settings = make_settings(desktops_per_user="1", desktops_total="3")
    base, xfce = db.get(DesktopType, "base"), db.get(DesktopType, "xfce")
    add_desktop(db, anna, "base", "running")
    add_desktop(db, anna, "xfce", "stopped")  # stopped ones do not count
    add_desktop(db, None, "base", "running")  # nor do pool desktops without an owner
    assert quota_problem(db, settings, anna.id, base) is None
    add_desktop(db, anna, "chromium", "starting")
    assert quota_problem(db, settings, anna.id, base) == (
        "You already have 1 desktop(s) running, and one person may run 1 at a time. Stop one first."
    )
    add_desktop(db, ben, "base", "creating")
    assert quota_problem(db, settings, ben.id, base) is None
    add_desktop(db, root, "base", "running")
    assert quota_problem(db, settings, ben.id, base) == (
        "All 3 desktops this server may run are in use. Please try again later."
    )
    xfce.max_running = 1
    add_desktop(db, ben, "xfce", "starting")
    unlimited = make_settings(desktops_per_user="5")
    assert quota_problem(db, unlimited, ben.id, xfce) is None
    add_desktop(db, root, "xfce", "running")
    assert "All 1 desktops of the type 'XFCE' are in use" in quota_problem(db, unlimited, ben.id, xfce)
