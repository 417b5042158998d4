"""Importing questionnaire files: valid ones land whole, malformed ones land not at all."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, func, select

from app.db import Database
from app.models import Campagne, Enjeu, Question, Questionnaire, QuestionType, Theme, Variante
from app.services import questionnaires
from app.services.questionnaire_schema import QuestionnaireFileError

MINI = Path(__file__).parent / "data" / "mini.yaml"


def counts(session: Session) -> dict[str, int]:
    return {
        model.__name__: session.exec(select(func.count()).select_from(model)).one()
        for model in (Campagne, Enjeu, Questionnaire, Theme, Question)
    }


def test_valid_file_creates_one_revision_per_variant(database: Database) -> None:
    with database.session() as session:
        result = questionnaires.import_file(session, MINI)
    assert [q.variante for q in result.created] == ["village", "ville", "territoire"]
    with database.session() as session:
        by_variant = {
            q.variante: questionnaires.themes_with_questions(session, q.id)  # type: ignore[arg-type]
            for q in session.exec(select(Questionnaire))
        }
    keys = {v: [q.cle for _, qs in themes for q in qs] for v, themes in by_variant.items()}
    assert "gouvernance.mutualisation" in keys["territoire"]
    assert "gouvernance.mutualisation" not in keys["ville"]
    assert len(keys["ville"]) == 9
    village_elu = next(
        q for _, qs in by_variant["village"] for q in qs if q.cle == "gouvernance.elu"
    )
    ville_elu = next(q for _, qs in by_variant["ville"] for q in qs if q.cle == "gouvernance.elu")
    assert village_elu.libelle.startswith("Le maire")
    assert ville_elu.libelle.startswith("Un·e élu·e")
    budget = next(q for _, qs in by_variant["ville"] for q in qs if q.cle == "gouvernance.budget")
    assert (budget.unite, budget.cible, budget.enjeux) == (
        "€",
        50000,
        ["efficacite_services_publics"],
    )


def test_reimport_is_idempotent_and_a_change_makes_a_new_revision(
    database: Database, tmp_path: Path
) -> None:
    with database.session() as session:
        questionnaires.import_file(session, MINI)
    with database.session() as session:
        assert questionnaires.import_file(session, MINI).created == []
        before = counts(session)
    changed = tmp_path / "mini.yaml"
    changed.write_text(MINI.read_text().replace("Budget numérique annuel", "Budget numérique"))
    with database.session() as session:
        result = questionnaires.import_file(session, changed)
        assert {q.revision for q in result.created} == {2}
        after = counts(session)
    assert after["Campagne"] == before["Campagne"] == 1
    assert after["Questionnaire"] == 6


def test_shipped_campagne_is_valid_and_complete(database: Database) -> None:
    with database.session() as session:
        result = questionnaires.import_file(session, questionnaires.SHIPPED)
        ville = next(q for q in result.created if q.variante == Variante.ville)
        themes = questionnaires.themes_with_questions(session, ville.id)  # type: ignore[arg-type]
    assert len(themes) == 12
    all_questions = [q for _, qs in themes for q in qs]
    assert 60 <= len(all_questions) <= 90
    assert all(qs[-1].type == QuestionType.actions for _, qs in themes)
    used = {q.type for q in all_questions}
    assert used == set(QuestionType)


def mutate(change: str) -> str:
    """The mini questionnaire with one thing broken (a Python statement on `data`)."""
    data = yaml.safe_load(MINI.read_text())
    exec(change, {"data": data})  # noqa: S102 - test-only, literal statements below
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


MALFORMED = [
    ("data['format'] = 'autre/2'", "format", "le format doit être"),
    ("del data['campagne']['annee']", "campagne", "« annee » manque"),
    ("data['campagne']['annee'] = 'deux mille'", "campagne.annee", "une année"),
    ("data['campagne']['date_limite'] = '2029-02-30'", "campagne.date_limite", "date AAAA-MM-JJ"),
    ("data['campagne']['date_limite'] = '2029-01-01'", "campagne.date_limite", "doit suivre"),
    ("data['enjeux'][0]['axe'] = 'economie'", "enjeux[0].axe", "axe inconnu"),
    ("data['themes'][1]['cle'] = 'gouvernance'", "themes[1].cle", "déjà utilisée"),
    ("data['themes'][0]['questions'] = []", "themes[0].questions", "liste non vide"),
    (
        "data['themes'][0]['questions'][1]['type'] = 'nombre'",
        "themes[0].questions[1].type",
        "type inconnu 'nombre'",
    ),
    (
        "del data['themes'][0]['questions'][1]['unite']",
        "themes[0].questions[1]",
        "« unite » manque",
    ),
    (
        "data['themes'][0]['questions'][3]['choix'] = [{'cle': 'a', 'libelle': 'A'}]",
        "themes[0].questions[3].choix",
        "au moins deux choix",
    ),
    (
        "data['themes'][1]['questions'][1]['cle'] = 'gouvernance.budget'",
        "themes[1].questions[1].cle",
        "déjà utilisée",
    ),
    (
        "data['themes'][0]['questions'][1]['enjeux'] = ['inexistant']",
        "themes[0].questions[1].enjeux",
        "inconnu",
    ),
    (
        "data['themes'][0]['questions'][2]['obligatiore'] = True",
        "themes[0].questions[2].obligatiore",
        "champ inconnu",
    ),
    (
        "data['themes'][0]['questions'][3]['surcharges'] = {'ville': {'libelle': 'x'}}",
        "themes[0].questions[3].surcharges.ville",
        "n'existe pas dans la variante",
    ),
    (
        "data['themes'][1]['questions'][3]['max_longueur'] = -3",
        "themes[1].questions[3].max_longueur",
        "entier positif",
    ),
    (
        "data['themes'][0]['questions'][3]['variantes'] = ['metropole']",
        "themes[0].questions[3].variantes",
        "village, ville, territoire",
    ),
]


@pytest.mark.parametrize(("change", "path", "message"), MALFORMED)
def test_malformed_file_is_refused_precisely_and_writes_nothing(
    database: Database, change: str, path: str, message: str
) -> None:
    with database.session() as session:
        before = counts(session)
    with pytest.raises(QuestionnaireFileError) as caught, database.session() as session:
        questionnaires.import_text(session, mutate(change), "casse.yaml")
    problems = caught.value.problems
    assert any(p.path == path and message in p.message for p in problems), problems
    assert all(p.line is not None for p in problems)
    assert str(caught.value).startswith("casse.yaml : questionnaire refusé")
    with database.session() as session:
        assert counts(session) == before


def test_problem_names_the_line(database: Database) -> None:
    text = MINI.read_text().replace("type: oui_non", "type: ouinon")
    with pytest.raises(QuestionnaireFileError) as caught, database.session() as session:
        questionnaires.import_text(session, text, "mini.yaml")
    (problem,) = caught.value.problems
    expected_line = text.splitlines().index("        type: ouinon") + 1
    assert problem.line == expected_line
    assert f"ligne {expected_line}, themes[0].questions[2].type" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "le fichier est vide"),
        ("format: [unclosed", "YAML/JSON illisible"),
        ("- just\n- a list\n", "un objet (clé : valeur) est attendu"),
    ],
)
def test_unreadable_files_are_refused(database: Database, text: str, message: str) -> None:
    with pytest.raises(QuestionnaireFileError) as caught, database.session() as session:
        questionnaires.import_text(session, text, "x.yaml")
    assert message in str(caught.value)


def test_json_files_are_accepted(database: Database) -> None:
    import json

    data = yaml.safe_load(MINI.read_text())
    text = json.dumps(data, default=str, ensure_ascii=False)
    with database.session() as session:
        result = questionnaires.import_text(session, text, "mini.json")
    assert len(result.created) == 3
