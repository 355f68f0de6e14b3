"""Users, roles, bcrypt hashing and the login rate limiter."""

from __future__ import annotations

import bcrypt
import pytest

from roomvoice.store.access import LoginRateLimiter
from roomvoice.store.db import Database
from roomvoice.store.errors import AuthError, NotFoundError, ValidationError
from roomvoice.store.users import Role, User, UserStore
from tests.store.conftest import PASSWORD, FakeClock


def stored_hash(db: Database, user_id: int) -> str:
    with db.connection() as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_password_is_stored_as_bcrypt_hash(db: Database, users: UserStore, alice: User) -> None:
    stored = stored_hash(db, alice.id)
    assert stored != PASSWORD and PASSWORD not in stored
    assert stored.startswith("$2b$04$")
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    assert alice.role is Role.MEMBER and alice.username == "alice"


def test_authenticate_right_and_wrong(users: UserStore, alice: User) -> None:
    assert users.authenticate("alice", PASSWORD, client_ip="10.0.0.2") == alice
    assert users.authenticate("ALICE", PASSWORD) == alice  # usernames ignore case
    for username, password in [("alice", "wrong password"), ("nobody", PASSWORD), ("alice", ""), ("alice", "x" * 100)]:
        with pytest.raises(AuthError) as info:
            users.authenticate(username, password, client_ip="10.0.0.2")
        assert info.value.code == "auth-bad-password"
        assert PASSWORD not in str(info.value)


def test_rate_limit_after_repeated_failures(users: UserStore, alice: User, clock: FakeClock) -> None:
    for _ in range(5):
        with pytest.raises(AuthError, match="auth-bad-password"):
            users.authenticate("alice", "guessing-wrong", client_ip="192.168.1.50")
    with pytest.raises(AuthError) as info:  # even the right password is refused now
        users.authenticate("alice", PASSWORD, client_ip="192.168.1.50")
    assert info.value.code == "auth-rate-limited"
    assert users.authenticate("alice", PASSWORD, client_ip="192.168.1.51") == alice  # other address
    clock.advance(301)
    assert users.authenticate("alice", PASSWORD, client_ip="192.168.1.50") == alice


def test_limiter_window_slides_and_success_clears() -> None:
    clock = FakeClock()
    limiter = LoginRateLimiter(max_failures=3, window_s=60, clock=clock)
    for _ in range(3):
        limiter.record_failure("Bob", "::1")
        clock.advance(10)
    assert limiter.retry_after_s("bob", "::1") == pytest.approx(30)  # first failure expires at t+60
    with pytest.raises(AuthError, match="auth-rate-limited"):
        limiter.check("bob", "::1")
    clock.advance(30)
    limiter.check("bob", "::1")  # one failure dropped out of the window
    limiter.record_failure("bob", "::1")
    with pytest.raises(AuthError):
        limiter.check("bob", "::1")
    limiter.record_success("bob", "::1")
    limiter.check("bob", "::1")


def test_create_user_validation(users: UserStore, alice: User) -> None:
    cases = [
        (("Alice", PASSWORD), "store-conflict"),
        (("", PASSWORD), "store-invalid"),
        (("x" * 65, PASSWORD), "store-too-long"),
        (("carol", "short"), "store-invalid"),
        (("carol", "é" * 40), "store-too-long"),  # 80 bytes of UTF-8 > bcrypt's 72
        (("carol\x00", PASSWORD), "store-invalid"),
    ]
    for args, code in cases:
        with pytest.raises(ValidationError) as info:
            users.create_user(*args)
        assert info.value.code == code, args
    with pytest.raises(ValidationError, match="unknown role"):
        users.create_user("carol", PASSWORD, "owner")


def test_roles_list_and_last_admin(users: UserStore, alice: User, admin: User, guest: User) -> None:
    assert [u.username for u in users.list_users()] == ["alice", "root", "visitor"]
    assert users.set_role(alice.id, "guest").role is Role.GUEST
    assert users.get_user(alice.id).role is Role.GUEST
    with pytest.raises(ValidationError, match="no admin"):
        users.set_role(admin.id, Role.MEMBER)
    users.set_role(guest.id, Role.ADMIN)
    assert users.set_role(admin.id, Role.MEMBER).role is Role.MEMBER
    with pytest.raises(NotFoundError):
        users.set_role(999_999, Role.MEMBER)
    assert users.find_user("VISITOR") == users.get_user(guest.id)
    assert users.find_user("nobody") is None


def test_hash_cost_is_upgraded_on_login(db: Database, alice: User) -> None:
    stronger = UserStore(db, bcrypt_rounds=5)
    stronger.authenticate("alice", PASSWORD)
    assert stored_hash(db, alice.id).startswith("$2b$05$")
    stronger.set_password(alice.id, "a new passphrase")
    assert stronger.authenticate("alice", "a new passphrase") == alice
    with pytest.raises(AuthError):
        stronger.authenticate("alice", PASSWORD)


def test_delete_user_cascades(users: UserStore, alice: User) -> None:
    users.delete_user(alice.id)
    with pytest.raises(NotFoundError, match="store-not-found"):
        users.get_user(alice.id)
