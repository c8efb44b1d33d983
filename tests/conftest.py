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


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: allauth keeps its rate limits there (e.g. 30
    sign-ins a minute per address), and a live server shares this process's cache, so a
    suite that signs in many times within a minute would otherwise meet a 429."""
    from django.core.cache import cache

    cache.clear()
    yield
