import pytest

from tests.factories import make_cast
from tests.fakestripe_server import fake_stripe, fake_stripe_server  # noqa: F401  (fixtures)


@pytest.fixture
def cast(db):
    return make_cast()




@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    """A real 512×512 portrait photo (scikit-image ships it) as JPEG bytes."""
    from rights.management.commands.demo_world import astronaut_jpeg as make

    return make()


@pytest.fixture
def admin_user(db, django_user_model):
    """pytest-django's admin user, with TOTP set up: staff must have two-factor sign-in
    (web.middleware.RequireMFAMiddleware), or every admin page sends them to its set-up."""
    from tests.web.conftest import give_totp

    user = django_user_model.objects.create_superuser("admin", email="admin@example.com", password="password")
    give_totp(user)
    return user
