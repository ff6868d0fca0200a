"""The first run of a fresh install leads somewhere: the first admin account that ``make run``
creates (``runplatform``) comes with a business, so that person can create a connector at once;
superusers choose a connector's business in the UI and the API; an empty connectors page says
what to do next.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from accounts.models import Business, Membership, Role, User
from accounts.services import FIRST_BUSINESS_NAME, first_admin_ensure
from connectors.models import Connector
from tests.factories import PASSWORD
from tests.live import MANAGE, ROOT, free_port, own_database, stop, wait_for
from tests.web.conftest import page_text

pytestmark = pytest.mark.django_db

LIST = "/api/v1/connectors/"


def test_the_first_admin_gets_a_business_of_their_own(db):
    admin = first_admin_ensure()

    assert admin.user.email == "admin@localhost"
    assert admin.user.is_superuser and admin.user.check_password(admin.password)
    assert admin.business.name == FIRST_BUSINESS_NAME
    assert Membership.objects.get(user=admin.user).business == admin.business
    assert Membership.objects.get(user=admin.user).role == Role.ADMIN


def test_later_starts_change_nothing(db):
    first = first_admin_ensure()

    again = first_admin_ensure()

    assert again.user == first.user
    assert again.password is None and again.business is None
    assert Business.objects.count() == 1 and User.objects.count() == 1


def test_the_admin_named_in_the_environment_gets_the_business(db):
    admin = first_admin_ensure(email="ops@example.com", password=PASSWORD)

    assert admin.password is None
    assert admin.user.check_password(PASSWORD) and admin.user.is_superuser
    assert admin.business.memberships.get().user == admin.user


def test_an_install_that_has_businesses_gets_no_new_one(business):
    admin = first_admin_ensure()

    assert admin.business is None
    assert list(Business.objects.all()) == [business]


def test_an_install_started_before_it_had_businesses_gives_its_superuser_one(db):
    root = User.objects.create_superuser(email="root@example.com", password=PASSWORD)

    admin = first_admin_ensure()

    assert admin.user == root and admin.password is None
    assert root.businesses.get() == admin.business


def test_the_first_admin_creates_a_connector_on_the_empty_connectors_page(web):
    admin = first_admin_ensure()
    client = web(admin.user)

    page = client.get("/connectors/")

    assert page.status_code == 200
    html = page_text(page)
    assert "No connectors yet." in html
    assert re.search(
        r'<a class="button button-primary" href="#id_name">Create your first connector</a>', html
    )
    assert 'name="business"' not in html  # their one business: nothing to choose
    created = client.post("/connectors/", {"name": "Thermostat"})
    connector = Connector.objects.get()
    assert created.status_code == 302
    assert created["Location"] == f"/connectors/{connector.pk}/devices/"
    assert connector.business == admin.business


def test_the_first_admin_creates_a_connector_through_the_api_without_naming_a_business(api):
    admin = first_admin_ensure(email="ops@example.com", password=PASSWORD)

    response = api(admin.user).post(LIST, {"name": "Lamp"}, format="json")

    assert response.status_code == 201
    assert response.json()["business"] == admin.business.pk


def test_a_superuser_creates_a_connector_in_the_business_it_names(api, business, outsider):
    root = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    globex = outsider.businesses.get()

    response = api(root).post(LIST, {"name": "Lamp", "business": globex.pk}, format="json")

    assert response.status_code == 201
    assert response.json()["business"] == globex.pk
    assert Connector.objects.get(pk=response.json()["id"]).business == globex


def test_a_superuser_outside_the_only_business_finds_it_chosen_in_the_form(web, business):
    root = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client = web(root)

    html = page_text(client.get("/connectors/"))
    created = client.post("/connectors/", {"name": "Lamp", "business": str(business.pk)})

    assert re.search(rf'<option value="{business.pk}" selected>Acme</option>', html)
    assert created.status_code == 302
    assert Connector.objects.get().business == business


def test_a_superuser_chooses_among_every_business(web, business, outsider):
    root = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    globex = outsider.businesses.get()
    client = web(root)

    unchosen = client.post("/connectors/", {"name": "Lamp"})
    chosen = client.post("/connectors/", {"name": "Lamp", "business": str(globex.pk)})

    assert unchosen.status_code == 400
    assert "This field is required." in page_text(unchosen)
    assert chosen.status_code == 302
    assert Connector.objects.get().business == globex


def test_a_superuser_without_any_business_is_led_to_add_one(web, db):
    root = User.objects.create_superuser(email="root@example.com", password=PASSWORD)

    html = page_text(web(root).get("/connectors/"))

    assert "there is no business yet" in html
    assert 'href="/admin/accounts/business/add/">Add a business</a>' in html
    assert "New connector" not in html


def test_a_viewer_is_told_who_can_create_connectors(web, viewer):
    html = page_text(web(viewer).get("/connectors/"))

    assert "No connectors yet." in html
    assert "Your role is read-only" in html
    assert "Create your first connector" not in html


# --- make run, for real ----------------------------------------------------------------------


@pytest.fixture
def var_dir():
    # Short: the embedded Redis's Unix socket lives there, and socket paths are short.
    path = Path(tempfile.mkdtemp(prefix="firstrun-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_first_start_prints_where_to_log_in_and_that_account_creates_a_connector(var_dir):
    """``runplatform`` on a fresh database, as ``make run`` starts it: the banner names the
    product's address and a new account; logging in there with it, the form creates a connector."""
    env = {**os.environ, "MURANO_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "murano.settings"}
    env.pop("EMBEDDED_REDIS_SOCKET", None)  # its own embedded Redis, under its MURANO_VAR_DIR
    for name in ("DJANGO_SUPERUSER_EMAIL", "DJANGO_SUPERUSER_PASSWORD"):
        env.pop(name, None)
    port = free_port()
    output = var_dir / "runplatform.log"
    with own_database(env, "firstrun", var_dir / "first.sqlite3"):
        subprocess.run([*MANAGE, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
        with output.open("wb") as log:
            process = subprocess.Popen(
                [*MANAGE, "runplatform", "--no-worker", "--port", str(port)],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(
                lambda: httpx.get(base + "/healthz").status_code == 200, "runplatform", process, log=output
            )
            banner = output.read_text()
            assert f"Log in at {base}/connectors/" in banner
            assert f"Back office (Django admin): {base}/admin/" in banner
            email = re.search(r"e-mail: +(\S+)", banner).group(1)
            password = re.search(r"password: +(\S+)", banner).group(1)
            assert "celery@" not in banner and "Listening on" not in banner  # no start-up noise

            with httpx.Client(base_url=base, follow_redirects=True, timeout=30) as browser:
                login = browser.get("/connectors/")
                assert login.url.path == "/accounts/login/"
                browser.post(login.url, data={
                    "username": email, "password": password, "csrfmiddlewaretoken": _csrf(login.text),
                })  # fmt: skip
                page = browser.get("/connectors/")
                assert "Create your first connector" in page.text
                created = browser.post(
                    "/connectors/", data={"name": "Thermostat", "csrfmiddlewaretoken": _csrf(page.text)}
                )
                assert created.status_code == 200
                assert re.fullmatch(r"/connectors/[a-z0-9]+/devices/", created.url.path)
                assert "Connector “Thermostat” created." in created.text
        finally:
            stop(process)


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
