import pytest

from broker.auth.claims import ClaimsError, GroupClaim, identity_from_claims, roles_for_groups


def test_iserv_claims_use_uuid_and_the_groups_object():
    identity = identity_from_claims(
        {
            "sub": "42",
            "uuid": "7f0c7a4e-uuid",
            "preferred_username": "max.muster",
            "name": "Max Muster",
            "email": "max.muster@school.example",
            "groups": {
                "17": {"act": "admins", "name": "Administratoren"},
                "18": {"act": "klasse.5a", "name": "Klasse 5a"},
            },
        }
    )
    assert identity.subject == "7f0c7a4e-uuid"
    assert identity.username == "max.muster"
    assert identity.groups == (GroupClaim("admins", "Administratoren"), GroupClaim("klasse.5a", "Klasse 5a"))


def test_generic_claims_use_sub_and_a_list_of_groups():
    identity = identity_from_claims({"sub": "abc", "preferred_username": "alice", "groups": ["students", "5a"]})
    assert identity.subject == "abc" and identity.display_name == "alice"
    assert [g.key for g in identity.groups] == ["5a", "students"]


def test_a_configurable_groups_claim():
    identity = identity_from_claims({"sub": "abc", "roles": ["teachers"]}, groups_claim="roles")
    assert identity.groups == (GroupClaim("teachers", "teachers"),)


@pytest.mark.parametrize(
    "claims, message",
    [
        ({"preferred_username": "x"}, "neither a uuid nor a sub"),
        ({"sub": "x", "groups": "admins"}, "neither a list nor an object"),
        ({"sub": "x", "groups": [{"name": "no act"}]}, "has no name"),
    ],
)
def test_unusable_claims_are_refused(claims, message):
    with pytest.raises(ClaimsError, match=message):
        identity_from_claims(claims)


def test_roles_from_configured_groups_ignore_case():
    groups = [GroupClaim("Admins", "Admins"), GroupClaim("lehrer", "Lehrer")]
    assert roles_for_groups(groups, ["admins"], ["teachers", "lehrer"]) == ["admin", "teacher"]
    assert roles_for_groups([GroupClaim("5a", "5a")], ["admins"], ["teachers"]) == []
