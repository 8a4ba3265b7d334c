"""Users, passwords and reset tokens. Passwords are hashed with scrypt (werkzeug); reset tokens are
signed, expire after an hour and stop working once the password changed (the hash is in the salt)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from client_app import activity, validation
from client_app.errors import AppError
from client_app.extensions import db
from client_app.models import ROLES, User

log = logging.getLogger("client_app.auth")
RESET_MAX_AGE_S = 3600
# A constant hash checked when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password-x")


def find(email: str) -> User | None:
    return db.session.scalar(db.select(User).where(User.email == email.strip().lower()))


def authenticate(email: str, password: str) -> User | None:
    user = find(email) if email else None
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not user.active or not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def create_user(email: Any, name: Any, role: Any, password: Any, *, actor: str | None = None) -> User:
    address = validation.email(email)
    display = validation.text(name, "name")
    chosen = validation.choice(role, "role", ROLES)
    secret = validation.password(password)
    if find(address) is not None:
        raise AppError(f"a user {address} already exists", code="conflict", fix="pick another email, or edit that user")
    user = User(email=address, name=display, role=chosen, password_hash=generate_password_hash(secret))
    db.session.add(user)
    activity.record("user.create", address, f"role {chosen}", actor=actor)
    db.session.commit()
    return user


def set_role(user_id: int, role: str, *, active: bool) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise AppError(f"no user {user_id}", code="not_found", fix="reload the users page")
    chosen = validation.choice(role, "role", ROLES)
    if user.role == "admin" and (chosen != "admin" or not active) and _admins() <= 1:
        raise AppError("this is the last admin", code="conflict", fix="make another user admin first")
    user.role, user.active = chosen, active
    activity.record("user.update", user.email, f"role {chosen}, {'active' if active else 'disabled'}")
    db.session.commit()
    return user


def _admins() -> int:
    return len(list(db.session.scalars(db.select(User).where(User.role == "admin", User.active.is_(True)))))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="password-reset")


def reset_token(user: User) -> str:
    return _serializer().dumps({"id": user.id, "h": user.password_hash[-16:]})


def user_for_token(token: str) -> User:
    try:
        data = _serializer().loads(token, max_age=RESET_MAX_AGE_S)
    except SignatureExpired:
        raise AppError("this reset link has expired", fix="ask for a new link on the sign-in page") from None
    except BadSignature:
        raise AppError("this reset link is not valid", fix="ask for a new link on the sign-in page") from None
    user = db.session.get(User, data.get("id")) if isinstance(data, dict) else None
    if user is None or not user.active or user.password_hash[-16:] != data.get("h"):
        raise AppError("this reset link was already used", fix="ask for a new link on the sign-in page")
    return user


def reset_password(token: str, password: str) -> User:
    user = user_for_token(token)
    user.password_hash = generate_password_hash(validation.password(password))
    activity.record("user.password_reset", user.email, actor=user.email)
    db.session.commit()
    return user


def send_mail(to: str, subject: str, body: str) -> bool:
    """Send one email through the configured SMTP server; False (and a log line) when none is set."""
    config = current_app.config["B2BREC_APP"]
    if not config.smtp_host:
        log.warning("no SMTP server configured (B2BREC_APP_SMTP_HOST); email %r to %s not sent", subject, to)
        return False
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = config.mail_from, to, subject
    message.set_content(body)
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    return True


def request_reset(email: str) -> None:
    """Email a reset link if the address belongs to an active user; say nothing either way."""
    user = find(email)
    if user is None or not user.active:
        return
    base = current_app.config["B2BREC_APP"].base_url.rstrip("/")
    link = f"{base}/reset/{reset_token(user)}"
    send_mail(
        user.email, "Reset your b2brec password", f"Open this link within an hour to choose a new password:\n{link}\n"
    )
    activity.record("user.reset_requested", user.email, actor=user.email)
    db.session.commit()
