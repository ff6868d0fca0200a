"""Settings of the browser suite's live server and worker: the project's, except that Celery
tasks travel through files of their own on every stack, so the suite's worker never takes
(or leaves) another test run's tasks on a shared Redis."""

from murano.settings import *  # noqa: F403
from murano.settings import VAR_DIR

_celery_dir = VAR_DIR / "browser-celery"
for _sub in ("queue", "processed", "control"):
    (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_URL = "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(_celery_dir / "queue"),
    "data_folder_out": str(_celery_dir / "queue"),
    "processed_folder": str(_celery_dir / "processed"),
    "store_processed": False,
    "control_folder": str(_celery_dir / "control"),
    "polling_interval": 0.2,
}
CELERY_TASK_ALWAYS_EAGER = False

# The integrations' third party in tests/browser/test_integrations.py (tests/integrations/
# pump_cloud.py) listens on loopback with a CA of its own, which that test writes here first.
INTEGRATIONS_CA_BUNDLE = str(VAR_DIR / "integrations-ca.pem")
INTEGRATIONS_ALLOW_PRIVATE_HOSTS = True
INTEGRATIONS_TIMEOUT = 5.0
