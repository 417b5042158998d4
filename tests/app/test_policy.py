"""The permission matrix, over every role and dossier state."""

from __future__ import annotations

import pytest

from app.models import DossierState, Role, SectionStatus, User
from app.policy import Action, Facts, can, may_delete_comment


def facts(
    role: Role | None = None,
    state: DossierState = DossierState.brouillon,
    owns: bool = False,
    status: SectionStatus = SectionStatus.en_cours,
    admin: bool = False,
    jury: bool = False,
    active: bool = True,
) -> Facts:
    user = User(email="x@test.fr", name="X", is_admin=admin, is_jury=jury, is_active=active)
    return Facts(user, state, role, owns, status)


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (facts(Role.referent), True),
        (facts(Role.producteur, owns=True), True),
        (facts(Role.producteur, owns=False), False),
        (facts(Role.relecteur), False),
        (facts(None), False),
        (facts(None, admin=True), False),
        (facts(None, jury=True), False),
        (facts(Role.referent, state=DossierState.depose), False),
        (facts(Role.producteur, owns=True, state=DossierState.verrouille), False),
        (facts(Role.producteur, owns=True, status=SectionStatus.validee), False),
        (facts(Role.referent, active=False), False),
    ],
)
def test_section_write(f: Facts, expected: bool) -> None:
    assert can(f, Action.SECTION_WRITE) is expected


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (facts(Role.referent), True),
        (facts(Role.producteur), True),
        (facts(Role.relecteur), True),
        (facts(None), False),
        (facts(None, admin=True), True),
        (facts(None, jury=True), False),
        (facts(None, jury=True, state=DossierState.depose), True),
        (facts(None, jury=True, state=DossierState.labellise), True),
        (facts(Role.relecteur, active=False), False),
    ],
)
def test_read(f: Facts, expected: bool) -> None:
    assert can(f, Action.DOSSIER_READ) is expected
    assert can(f, Action.SECTION_READ) is expected


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (facts(Role.referent), True),
        (facts(Role.producteur), False),
        (facts(Role.relecteur), False),
        (facts(None), False),
        (facts(None, admin=True), True),
        (facts(None, jury=True), False),
        (facts(None, jury=True, state=DossierState.en_instruction), True),
    ],
)
def test_export(f: Facts, expected: bool) -> None:
    assert can(f, Action.DOSSIER_EXPORT) is expected


def test_every_action_has_a_rule() -> None:
    from app.policy import RULES

    assert set(RULES) == set(Action)


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (facts(Role.referent), True),
        (facts(Role.referent, status=SectionStatus.a_rediger), True),
        (facts(Role.producteur, owns=True), True),
        (facts(Role.producteur, owns=False), False),
        (facts(Role.relecteur), False),
        (facts(None), False),
        (facts(None, admin=True), False),
        (facts(None, jury=True), False),
        (facts(Role.referent, state=DossierState.depose), False),
        (facts(Role.producteur, owns=True, state=DossierState.verrouille), False),
        (facts(Role.producteur, owns=True, active=False), False),
    ],
)
def test_section_mark_done(f: Facts, expected: bool) -> None:
    # Who may say « j'ai terminé »; from which status is the workflow's business (a 409).
    assert can(f, Action.SECTION_MARK_DONE) is expected


REFERENT_ONLY = (Action.SECTION_VALIDATE, Action.SECTION_SEND_BACK, Action.SECTION_REOPEN)


@pytest.mark.parametrize("action", REFERENT_ONLY)
@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (facts(Role.referent, status=SectionStatus.a_relire), True),
        (facts(Role.referent, status=SectionStatus.validee), True),
        (facts(Role.producteur, owns=True, status=SectionStatus.a_relire), False),
        (facts(Role.producteur, owns=True, status=SectionStatus.validee), False),
        (facts(Role.relecteur, status=SectionStatus.a_relire), False),
        (facts(None, status=SectionStatus.a_relire), False),
        (facts(None, admin=True, status=SectionStatus.a_relire), False),
        (facts(None, jury=True, state=DossierState.depose), False),
        (facts(Role.referent, state=DossierState.depose), False),
        (facts(Role.referent, state=DossierState.en_instruction), False),
        (facts(Role.referent, state=DossierState.labellise), False),
        (facts(Role.referent, state=DossierState.verrouille), False),
        (facts(Role.referent, active=False), False),
    ],
)
def test_section_review_transitions(f: Facts, expected: bool, action: Action) -> None:
    assert can(f, action) is expected


@pytest.mark.parametrize("role", [Role.referent, Role.producteur])
def test_a_validated_section_is_written_by_nobody(role: Role) -> None:
    validated = facts(role, owns=True, status=SectionStatus.validee)
    assert can(validated, Action.SECTION_WRITE) is False
    assert can(validated, Action.SECTION_READ) is True


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (facts(Role.referent), True),
        (facts(Role.producteur, owns=True), True),
        (facts(Role.producteur, owns=False), False),  # another section's producteur
        (facts(Role.relecteur), True),
        (facts(None), False),
        (facts(None, admin=True), True),
        (facts(None, jury=True), False),
        (facts(None, jury=True, state=DossierState.depose), False),
        (facts(Role.referent, state=DossierState.labellise), True),  # kept after submission
        (facts(Role.relecteur, state=DossierState.verrouille), True),
        (facts(Role.producteur, owns=True, status=SectionStatus.validee), True),
        (facts(Role.relecteur, active=False), False),
    ],
)
def test_history_read(f: Facts, expected: bool) -> None:
    assert can(f, Action.HISTORY_READ) is expected


@pytest.mark.parametrize(
    ("f", "version", "restore"),
    [
        (facts(Role.referent), True, True),
        (facts(Role.referent, status=SectionStatus.a_relire), True, True),
        (facts(Role.referent, status=SectionStatus.validee), True, False),  # reopen it first
        (facts(Role.producteur, owns=True), False, False),
        (facts(Role.relecteur), False, False),
        (facts(None), False, False),
        (facts(None, admin=True), False, False),
        (facts(None, jury=True, state=DossierState.depose), False, False),
        (facts(Role.referent, state=DossierState.depose), False, False),
        (facts(Role.referent, state=DossierState.verrouille), False, False),
        (facts(Role.referent, active=False), False, False),
    ],
)
def test_version_create_and_section_restore(f: Facts, version: bool, restore: bool) -> None:
    assert can(f, Action.VERSION_CREATE) is version
    assert can(f, Action.SECTION_RESTORE) is restore


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (facts(Role.referent), True),
        (facts(Role.referent, state=DossierState.en_instruction), True),
        (facts(Role.producteur, owns=True), False),
        (facts(Role.relecteur), False),
        (facts(None), False),
        (facts(None, admin=True), True),
        (facts(None, admin=True, state=DossierState.labellise), True),
        (facts(None, jury=True, state=DossierState.depose), False),
        (facts(None, admin=True, active=False), False),
    ],
)
def test_contributions_read(f: Facts, expected: bool) -> None:
    assert can(f, Action.CONTRIBUTIONS_READ) is expected


@pytest.mark.parametrize(
    ("f", "read", "write"),
    [
        (facts(Role.referent), True, True),
        (facts(Role.producteur, owns=True), True, True),
        (facts(Role.producteur, owns=False), True, True),  # producteurs comment the rest too
        (facts(Role.relecteur), True, True),
        (facts(Role.relecteur, status=SectionStatus.validee), True, True),  # still discussed
        (facts(None), False, False),
        (facts(None, admin=True), True, False),  # the association's staff read
        (facts(None, jury=True), False, False),
        (facts(None, jury=True, state=DossierState.depose), False, False),  # not even then
        (facts(Role.relecteur, state=DossierState.depose), True, False),  # kept, read-only
        (facts(Role.referent, state=DossierState.verrouille), True, False),
        (facts(Role.relecteur, active=False), False, False),
    ],
)
def test_comment_read_and_write(f: Facts, read: bool, write: bool) -> None:
    assert can(f, Action.COMMENT_READ) is read
    assert can(f, Action.COMMENT_WRITE) is write
    assert can(f, Action.COMMENT_DELETE_OWN) is write  # one's own, as long as one may write


@pytest.mark.parametrize(
    ("f", "resolve", "moderate"),
    [
        (facts(Role.referent), True, True),
        (facts(Role.producteur, owns=True), True, False),  # threads on their own sections
        (facts(Role.producteur, owns=False), False, False),
        (facts(Role.relecteur), False, False),
        (facts(None, admin=True), False, False),
        (facts(None, jury=True, state=DossierState.depose), False, False),
        (facts(Role.referent, state=DossierState.depose), False, False),
        (facts(Role.producteur, owns=True, state=DossierState.verrouille), False, False),
        (facts(Role.referent, active=False), False, False),
    ],
)
def test_thread_resolve_and_comment_moderate(f: Facts, resolve: bool, moderate: bool) -> None:
    assert can(f, Action.THREAD_RESOLVE) is resolve
    assert can(f, Action.COMMENT_MODERATE) is moderate


@pytest.mark.parametrize(
    ("f", "own", "others"),
    [
        (facts(Role.referent), True, True),
        (facts(Role.producteur, owns=True), True, False),
        (facts(Role.relecteur), True, False),
        (facts(None, admin=True), False, False),
        (facts(Role.relecteur, state=DossierState.depose), False, False),
        (facts(Role.referent, state=DossierState.depose), False, False),
    ],
)
def test_who_deletes_which_comment(f: Facts, own: bool, others: bool) -> None:
    assert may_delete_comment(f, authored=True) is own
    assert may_delete_comment(f, authored=False) is others
