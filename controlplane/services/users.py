"""Portal users; passwords are kept only as salted scrypt hashes (werkzeug.security)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from controlplane.models import Role, User
from controlplane.services import audit
from controlplane.services.accounts import generate_password
from controlplane.services.tenants import ensure_operator


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def ensure_admin(session: Session, email: str = "admin@localhost") -> tuple[User, str | None]:
    """The first SUPERADMIN, created once; the generated password is returned only then."""
    existing = session.scalar(select(User).where(User.role == Role.SUPERADMIN).order_by(User.id))
    if existing is not None:
        return existing, None
    operator = ensure_operator(session)
    password = generate_password(16)
    user = User(tenant_id=operator.id, email=email, password_hash=hash_password(password), role=Role.SUPERADMIN)
    session.add(user)
    session.flush()
    audit.record(session, "setup", "user.create", "user", user.id, operator.id, {"email": email, "role": "SUPERADMIN"})
    return user, password
