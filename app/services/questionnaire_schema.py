"""Reading and validating a questionnaire file (format `arobase-questionnaire/1`).

Every problem names the file, the path inside it and its line, and says what is wrong; all
problems are reported at once, and nothing is written unless there are none. The file format
is described in the README ("Le questionnaire est une donnée").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

from app.models import QuestionType, Variante

FORMAT = "arobase-questionnaire/1"
AXES = (
    "democratie_services_publics",
    "vivre_ensemble",
    "partage_connaissance",
    "creation_richesses",
)
FORMATS = ("pdf", "odt", "ods", "odp", "docx", "xlsx", "pptx", "png", "jpg", "jpeg", "csv")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_QUESTION_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_COMMON_KEYS = {
    "cle",
    "type",
    "libelle",
    "aide",
    "obligatoire",
    "variantes",
    "surcharges",
    "enjeux",
}
_EXTRA_KEYS: dict[str, set[str]] = {
    QuestionType.texte_court: {"max_longueur"},
    QuestionType.indicateur: {"unite", "cible"},
    QuestionType.choix_unique: {"choix"},
    QuestionType.choix_multiple: {"choix"},
    QuestionType.piece_jointe: {"formats"},
    QuestionType.actions: {"min"},
}


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"ligne {self.line}, " if self.line else ""
        return f"{where}{self.path or '(racine)'} : {self.message}"


class QuestionnaireFileError(Exception):
    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} : questionnaire refusé ({len(problems)} problème(s))\n{lines}")


@dataclass
class _Checker:
    lines: dict[str, int]
    problems: list[Problem] = field(default_factory=list)

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, self._line(path), message))

    def _line(self, path: str) -> int | None:
        """The line of `path`, or of its nearest ancestor present in the file."""
        while path not in self.lines:
            parent = re.sub(r"(\.[^.\[\]]*|\[\d+\])$", "", path)
            if parent == path:
                return self.lines.get("")
            path = parent
        return self.lines[path]


def _line_map(node: yaml.Node, path: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Map each path (`themes[2].questions[0].type`) to the line where its value starts."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            out[child] = key_node.start_mark.line + 1
            _line_map(value_node, child, out)
            out[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, f"{path}[{index}]", out)
    return out


def parse(text: str, source: str) -> dict[str, Any]:
    """Parse and validate; return the plain data, or raise QuestionnaireFileError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise QuestionnaireFileError(
            source, [Problem("", line, f"YAML/JSON illisible : {problem}")]
        ) from None
    if node is None:
        raise QuestionnaireFileError(source, [Problem("", None, "le fichier est vide")])
    checker = _Checker(_line_map(node))
    _check_root(checker, data)
    if checker.problems:
        raise QuestionnaireFileError(source, checker.problems)
    return data  # type: ignore[no-any-return]


def _mapping(c: _Checker, value: Any, path: str, required: set[str], allowed: set[str]) -> bool:
    if not isinstance(value, dict):
        c.fail(path, "un objet (clé : valeur) est attendu")
        return False
    for key in sorted(required - value.keys()):
        c.fail(path, f"le champ obligatoire « {key} » manque")
    for key in sorted(set(value) - allowed - required, key=str):
        c.fail(f"{path}.{key}" if path else str(key), f"champ inconnu « {key} »")
    return True


def _text(c: _Checker, value: Any, path: str, *, empty_ok: bool = False) -> None:
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        c.fail(path, "un texte non vide est attendu")


def _date(c: _Checker, value: Any, path: str) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    c.fail(path, f"une date AAAA-MM-JJ est attendue, pas {value!r}")
    return None


def _check_root(c: _Checker, data: Any) -> None:
    if not _mapping(c, data, "", {"format", "campagne", "themes"}, {"enjeux"}):
        return
    if data.get("format") != FORMAT:
        c.fail("format", f"le format doit être « {FORMAT} », pas {data.get('format')!r}")
    _check_campagne(c, data.get("campagne"))
    enjeux = _check_enjeux(c, data.get("enjeux", []))
    themes = data.get("themes")
    if not isinstance(themes, list) or not themes:
        c.fail("themes", "une liste non vide de thèmes est attendue")
        return
    theme_keys: set[str] = set()
    question_keys: set[str] = set()
    for index, theme in enumerate(themes):
        _check_theme(c, theme, f"themes[{index}]", theme_keys, question_keys, enjeux)
    for variante in Variante:
        if not any(
            variante in _variantes_of(q)
            for t in themes
            if isinstance(t, dict)
            for q in (t.get("questions") or [])
            if isinstance(q, dict)
        ):
            c.fail("themes", f"aucune question pour la variante « {variante} »")


def _check_campagne(c: _Checker, value: Any) -> None:
    if not _mapping(c, value, "campagne", {"annee", "titre", "ouverture", "date_limite"}, set()):
        return
    annee = value.get("annee")
    if not isinstance(annee, int) or isinstance(annee, bool) or not 2000 <= annee <= 2100:
        c.fail("campagne.annee", f"une année entre 2000 et 2100 est attendue, pas {annee!r}")
    _text(c, value.get("titre"), "campagne.titre")
    start = _date(c, value.get("ouverture"), "campagne.ouverture")
    end = _date(c, value.get("date_limite"), "campagne.date_limite")
    if start and end and end <= start:
        c.fail("campagne.date_limite", "la date limite doit suivre la date d'ouverture")


def _check_enjeux(c: _Checker, value: Any) -> set[str]:
    keys: set[str] = set()
    if not isinstance(value, list):
        c.fail("enjeux", "une liste d'enjeux est attendue")
        return keys
    for index, enjeu in enumerate(value):
        path = f"enjeux[{index}]"
        if not _mapping(c, enjeu, path, {"cle", "axe", "libelle"}, set()):
            continue
        _key(c, enjeu.get("cle"), f"{path}.cle", keys, _SNAKE)
        if enjeu.get("axe") not in AXES:
            c.fail(f"{path}.axe", f"axe inconnu {enjeu.get('axe')!r} (attendu : {', '.join(AXES)})")
        _text(c, enjeu.get("libelle"), f"{path}.libelle")
    return keys


def _key(c: _Checker, value: Any, path: str, seen: set[str], pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        c.fail(path, f"clé invalide {value!r} (lettres minuscules, chiffres et _)")
    elif value in seen:
        c.fail(path, f"la clé « {value} » est déjà utilisée")
    else:
        seen.add(value)


def _check_theme(
    c: _Checker,
    theme: Any,
    path: str,
    theme_keys: set[str],
    question_keys: set[str],
    enjeux: set[str],
) -> None:
    if not _mapping(c, theme, path, {"cle", "titre", "questions"}, {"description"}):
        return
    _key(c, theme.get("cle"), f"{path}.cle", theme_keys, _SNAKE)
    _text(c, theme.get("titre"), f"{path}.titre")
    _text(c, theme.get("description", ""), f"{path}.description", empty_ok=True)
    questions = theme.get("questions")
    if not isinstance(questions, list) or not questions:
        c.fail(f"{path}.questions", "une liste non vide de questions est attendue")
        return
    for index, question in enumerate(questions):
        _check_question(c, question, f"{path}.questions[{index}]", question_keys, enjeux)


def _variantes_of(question: dict[str, Any]) -> list[str]:
    value = question.get("variantes")
    return list(Variante) if value is None else value if isinstance(value, list) else []


def _check_question(c: _Checker, q: Any, path: str, seen: set[str], enjeux: set[str]) -> None:
    if not isinstance(q, dict):
        c.fail(path, "un objet (clé : valeur) est attendu")
        return
    qtype = q.get("type")
    if qtype not in set(QuestionType):
        c.fail(f"{path}.type", f"type inconnu {qtype!r} (attendu : {', '.join(QuestionType)})")
        extra: set[str] = set()
    else:
        extra = _EXTRA_KEYS.get(qtype, set())
    required = {"cle", "type", "libelle"} | (
        {"unite"} if qtype == QuestionType.indicateur else set()
    )
    required |= (
        {"choix"} if qtype in (QuestionType.choix_unique, QuestionType.choix_multiple) else set()
    )
    _mapping(c, q, path, required, _COMMON_KEYS | extra)
    _key(c, q.get("cle"), f"{path}.cle", seen, _QUESTION_KEY)
    _text(c, q.get("libelle"), f"{path}.libelle")
    _text(c, q.get("aide", ""), f"{path}.aide", empty_ok=True)
    if not isinstance(q.get("obligatoire", False), bool):
        c.fail(f"{path}.obligatoire", "true ou false est attendu")
    _check_variants(c, q, path)
    refs = q.get("enjeux", [])
    if not isinstance(refs, list) or any(r not in enjeux for r in refs):
        unknown = [r for r in refs if r not in enjeux] if isinstance(refs, list) else refs
        c.fail(f"{path}.enjeux", f"enjeu(x) inconnu(s) : {unknown!r}")
    _check_type_fields(c, q, path, qtype)


def _check_variants(c: _Checker, q: dict[str, Any], path: str) -> None:
    variantes = q.get("variantes")
    if variantes is not None and (
        not isinstance(variantes, list)
        or not variantes
        or any(v not in set(Variante) for v in variantes)
        or len(set(variantes)) != len(variantes)
    ):
        c.fail(
            f"{path}.variantes", "une liste non vide parmi village, ville, territoire est attendue"
        )
    overrides = q.get("surcharges", {})
    if not isinstance(overrides, dict):
        c.fail(f"{path}.surcharges", "un objet variante : {libelle, aide, obligatoire} est attendu")
        return
    for variante, change in overrides.items():
        sub = f"{path}.surcharges.{variante}"
        if variante not in _variantes_of(q):
            c.fail(sub, f"la question n'existe pas dans la variante « {variante} »")
        if _mapping(c, change, sub, set(), {"libelle", "aide", "obligatoire"}):
            if "libelle" in change:
                _text(c, change["libelle"], f"{sub}.libelle")
            if "obligatoire" in change and not isinstance(change["obligatoire"], bool):
                c.fail(f"{sub}.obligatoire", "true ou false est attendu")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_type_fields(c: _Checker, q: dict[str, Any], path: str, qtype: Any) -> None:
    if qtype == QuestionType.indicateur:
        _text(c, q.get("unite"), f"{path}.unite")
        if "cible" in q and not _number(q["cible"]):
            c.fail(f"{path}.cible", f"un nombre est attendu, pas {q['cible']!r}")
    elif qtype in (QuestionType.choix_unique, QuestionType.choix_multiple):
        choix = q.get("choix")
        if not isinstance(choix, list) or len(choix) < 2:
            c.fail(f"{path}.choix", "au moins deux choix sont attendus")
            return
        keys: set[str] = set()
        for index, choice in enumerate(choix):
            sub = f"{path}.choix[{index}]"
            if _mapping(c, choice, sub, {"cle", "libelle"}, set()):
                _key(c, choice.get("cle"), f"{sub}.cle", keys, _SNAKE)
                _text(c, choice.get("libelle"), f"{sub}.libelle")
    elif qtype == QuestionType.texte_court and "max_longueur" in q:
        value = q["max_longueur"]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            c.fail(f"{path}.max_longueur", f"un entier positif est attendu, pas {value!r}")
    elif qtype == QuestionType.piece_jointe and "formats" in q:
        formats = q["formats"]
        if not isinstance(formats, list) or not formats or any(f not in FORMATS for f in formats):
            c.fail(f"{path}.formats", f"formats acceptés : {', '.join(FORMATS)}")
    elif qtype == QuestionType.actions and "min" in q:
        value = q["min"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            c.fail(f"{path}.min", f"un entier positif ou nul est attendu, pas {value!r}")
