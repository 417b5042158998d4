"""The `arobase` console script, run for real in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_questionnaire_import import MINI, mutate

BIN = Path(sys.executable).parent / "arobase"


def arobase(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AROBASE_DATABASE_URL": url}
    result = subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    arobase(url, "db", "upgrade")
    return url


def test_demo_is_idempotent_and_prints_its_ids(url: str) -> None:
    first = json.loads(arobase(url, "demo", "--json").stdout)
    second = json.loads(arobase(url, "demo", "--json").stdout)
    assert first == second
    assert set(first["users"]) == {
        "referente@exemple.fr",
        "producteur1@exemple.fr",
        "producteur2@exemple.fr",
        "relecteur@exemple.fr",
        "admin@exemple.fr",
    }
    assert len(first["sections"]) == 12
    owners = [s["owners"] for s in first["sections"]]
    assert ["producteur1@exemple.fr", "producteur2@exemple.fr"] in owners  # one shared section
    assert any(o == ["producteur1@exemple.fr"] for o in owners)
    assert any(o == ["producteur2@exemple.fr"] for o in owners)
    text = arobase(url, "demo").stdout
    assert "referente@exemple.fr" in text and "arobase-demo" in text


def test_export_json_to_a_file(url: str, tmp_path: Path) -> None:
    ids = json.loads(arobase(url, "demo", "--json").stdout)
    out = tmp_path / "dossier.json"
    arobase(url, "export", str(ids["dossier"]), "--format", "json", "-o", str(out))
    data = json.loads(out.read_text())
    assert data["collectivite"]["nom"] == "Saint-Aubin-sur-Loire"
    assert data["campagne"]["annee"] == 2027
    assert len(data["sections"]) == 12
    answered = [q for s in data["sections"] for q in s["questions"] if q["reponse"] is not None]
    assert answered
    assert any(q["type"] == "texte" and q["html"].startswith("<") for q in answered)


def test_export_of_a_missing_dossier_fails_clearly(url: str) -> None:
    result = arobase(url, "export", "4242", check=False)
    assert result.returncode == 1
    assert "le dossier n° 4242 n'existe pas" in result.stderr


def test_user_add(url: str) -> None:
    out = arobase(
        url,
        "user",
        "add",
        "Nouvelle@Exemple.fr",
        "--name",
        "Nina",
        "--password",
        "un mot de passe long",
        "--admin",
    ).stdout
    assert "nouvelle@exemple.fr" in out and "admin" in out
    again = arobase(url, "user", "add", "nouvelle@exemple.fr", "--name", "Nina", check=False)
    assert again.returncode == 1 and "existe déjà" in again.stderr
    short = arobase(
        url, "user", "add", "x@exemple.fr", "--name", "X", "--password", "court", check=False
    )
    assert short.returncode == 1 and "au moins 10 caractères" in short.stderr


def test_campagne_import(url: str, tmp_path: Path) -> None:
    assert "importé village" in arobase(url, "campagne", "import", str(MINI)).stdout
    assert "déjà à jour" in arobase(url, "campagne", "import", str(MINI)).stdout
    broken = tmp_path / "casse.yaml"
    broken.write_text(mutate("data['themes'][0]['questions'][1]['type'] = 'nombre'"))
    result = arobase(url, "campagne", "import", str(broken), check=False)
    assert result.returncode == 1
    assert "casse.yaml : questionnaire refusé" in result.stderr
    assert "themes[0].questions[1].type : type inconnu 'nombre'" in result.stderr
    missing = arobase(url, "campagne", "import", str(tmp_path / "absent.yaml"), check=False)
    assert missing.returncode == 1 and "fichier introuvable" in missing.stderr


def test_production_without_secret_refuses_to_start(url: str) -> None:
    env = {**os.environ, "AROBASE_DATABASE_URL": url, "AROBASE_ENV": "production"}
    env.pop("AROBASE_SECRET_KEY", None)
    result = subprocess.run(
        [str(BIN), "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "AROBASE_SECRET_KEY is required" in result.stderr
