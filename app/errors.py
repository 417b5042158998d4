"""Domain errors, and the one place that maps them (and HTTP errors) to pages or fragments."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app import htmx

if TYPE_CHECKING:
    from starlette.types import ExceptionHandler

log = logging.getLogger("arobase")


class DomainError(Exception):
    status_code = 400
    title = "Requête invalide"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status_code = 404
    title = "Page introuvable"


class Forbidden(DomainError):
    status_code = 403
    title = "Accès refusé"


class Conflict(DomainError):
    """The request is understood and allowed, but the thing is no longer in a state it fits."""

    status_code = 409
    title = "Action impossible"


class Invalid(DomainError):
    """Input that breaks a rule; `problems` name each field in error."""

    status_code = 422
    title = "Données invalides"

    def __init__(self, message: str = "", problems: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or {}


_MESSAGES = {
    400: "La requête n'a pas pu être comprise.",
    403: "Vous n'avez pas les droits nécessaires pour accéder à cette page.",
    404: "La page demandée n'existe pas ou a été déplacée.",
    405: "Cette action n'est pas possible sur cette page.",
    409: "Cette action n'est plus possible : la page a changé depuis son affichage. Rechargez-la.",
    500: "Une erreur inattendue s'est produite. L'équipe a été prévenue ; réessayez plus tard.",
}
_TITLES = {
    400: "Requête invalide",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Action impossible",
    409: "Action impossible",
    500: "Erreur du serveur",
}


def error_response(request: Request, status: int, title: str, message: str) -> Response:
    templates = request.app.state.templates
    template = "errors/error.html"
    context: dict[str, Any] = {"status": status, "title": title, "message": message}
    if htmx.is_htmx(request):
        response: Response = templates.TemplateResponse(
            request, template, context, status_code=status, block_name="content"
        )
    else:
        response = templates.TemplateResponse(request, template, context, status_code=status)
    htmx.vary(response)
    return response


async def _domain_error(request: Request, exc: Exception) -> Response:
    exc = cast(DomainError, exc)
    response = error_response(
        request, exc.status_code, exc.title, exc.message or _MESSAGES.get(exc.status_code, "")
    )
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    exc = cast(HTTPException, exc)
    status = exc.status_code
    message = exc.detail if exc.detail and status not in _MESSAGES else _MESSAGES.get(status, "")
    response = error_response(request, status, _TITLES.get(status, "Erreur"), message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, _TITLES[500], _MESSAGES[500])


def handlers() -> dict[Any, ExceptionHandler]:
    return {DomainError: _domain_error, HTTPException: _http_error, Exception: _server_error}
