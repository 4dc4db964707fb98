"""Fixtures of the console's browser tests: a real stack with the console and a small demo
county, Debian's chromium driven by Playwright, and screenshots kept as artifacts.

No browser is ever downloaded: without /usr/bin/chromium, the Playwright package or the built
console (`make console`), every test here is skipped, and the run's summary says so loudly.
"""

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cli.demo import load_demo
from cli.stack import free_port
from cli.users import add_user
from services.console.settings import WEB_DIR
from shared.auth import Role
from shared.demo import DEFAULT_COUNTY, generate_county
from shared.http_server import SERVING
from tests.conftest import Databases, start_stack

CHROMIUM = os.environ.get("LIANJIE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DIST = WEB_DIR / "dist" / "index.html"
ARTIFACTS = Path(os.environ.get("LIANJIE_TEST_ARTIFACTS", "var/test-artifacts/console"))
PASSWORD = "console-test-pw-1"
START_TIMEOUT_S = 90  # as for a stack (start_stack)
ORGANIZATION = "demo"
SKIP_REASON = "CONSOLE BROWSER TESTS SKIPPED"


def _chromium() -> str | None:
    """Debian's chromium (or the one LIANJIE_TEST_CHROMIUM names); never a downloaded one."""
    if "LIANJIE_TEST_CHROMIUM" in os.environ or Path(CHROMIUM).exists():
        return CHROMIUM if Path(CHROMIUM).exists() else None
    return shutil.which("chromium")


def _why_not() -> str | None:
    if _chromium() is None:
        return f"chromium is not installed ({CHROMIUM}): apt-get install -y chromium"
    # Found, not imported: importing it costs every pytest process 0.1 s at collection.
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing: make install"
    if not DIST.exists():
        return f"the console is not built ({DIST}): make console"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = _why_not()
    if reason is None:
        return
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=f"{SKIP_REASON}: {reason}"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # Counted from the reports, not at collection: under pytest-xdist the workers collect.
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if SKIP_REASON in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_sep("!", "console browser tests SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"{len(skipped)} browser tests did not run: {_why_not()}")
    if ARTIFACTS.exists() and any(ARTIFACTS.iterdir()):
        terminalreporter.write_line(f"console screenshots: {ARTIFACTS.resolve()}")


@dataclass
class ConsoleStack:
    """The running stack with the console, its demo users, and the coordinator's resource."""

    url: str
    stack: Any
    users: dict[str, str]
    resource_name: str
    resource_category: str
    hosts_seen: set[str] = field(default_factory=set)

    def api(self, role: Role, **scope: Any) -> httpx.Client:
        return self.stack.client(role, base_url=self.stack.url("needs"), **scope)


USERS = {
    "sw": {"role": Role.SOCIAL_WORKER, "adcode": DEFAULT_COUNTY},
    "coordinator": {"role": Role.COORDINATOR, "organization": ORGANIZATION},
    "reviewer": {
        "role": Role.ALLIANCE_REVIEWER,
        "department": "civil_affairs",
        "adcode": DEFAULT_COUNTY,
    },
    "hub": {"role": Role.COUNTY_HUB, "adcode": DEFAULT_COUNTY},
}


@pytest.fixture(scope="session")
def console(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[ConsoleStack]:
    if _why_not():
        pytest.skip(f"{SKIP_REASON}: {_why_not()}")
    tmp = tmp_path_factory.mktemp("console_stack")
    stack, _logs = start_stack(tmp, databases, "sqlite", console=True)
    try:
        loader = stack.token(Role.ADMIN, sub="demo-loader", ttl=timedelta(minutes=30))
        county = generate_county(seed=7, county=DEFAULT_COUNTY, households=8, resources=24)
        load_demo(
            county,
            needs_url=stack.url("needs"),
            resources_url=stack.url("resources"),
            token=loader,
        )
        needs_db = stack.config.service_env["needs"]["LIANJIE_NEEDS_DATABASE_URL"]
        users = {}
        for key, spec in USERS.items():
            name = f"console-{key}"
            scope = {k: v for k, v in spec.items() if k != "role"}
            add_user(
                database_url=needs_db, username=name, password=PASSWORD, role=spec["role"], **scope
            )
            users[key] = name
        name = f"链接测试助餐点-{uuid.uuid4().hex[:6]}"
        category = "basic_living.utilities"
        with stack.client(
            Role.COORDINATOR, organization=ORGANIZATION, base_url=stack.url("resources")
        ) as client:
            created = client.post(
                "/resources",
                json={
                    "name": name,
                    "kind": "charity",
                    "organization": ORGANIZATION,
                    "categories": [category],
                    "description": "为困难家庭代缴水电燃气费用",
                    "location": {"lat": 28.7238, "lon": 105.0668},
                    "radius_km": 60,
                    "capacity": {"total": 50, "unit": "persons", "period": "month"},
                },
            )
            assert created.status_code == 201, created.text
        yield ConsoleStack(
            url=stack.url("console"),
            stack=stack,
            users=users,
            resource_name=name,
            resource_category=category,
        )
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, per module: Playwright's sync API keeps an event loop running in this thread
    while it is open, and every later `asyncio.run` (and async test) would fail beside it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def only_local(hosts_seen: set[str]) -> Any:
    """A route handler that lets requests to 127.0.0.1 through and refuses every other host."""

    def handle(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        hosts_seen.add(host or route.request.url.split(":", 1)[0])
        if host == "127.0.0.1" or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            route.abort()

    return handle


@contextlib.contextmanager
def running_console(upstreams: dict[str, str], **env: str) -> Iterator[str]:
    """A console process forwarding to `upstreams` (service → base URL); yields its URL."""
    port = free_port()
    environment = {**os.environ, **env}
    for service, url in upstreams.items():
        environment[f"LIANJIE_CONSOLE_{service.upper()}_URL"] = url
    command = [sys.executable, "-m", "uvicorn", "--factory", "services.console.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--no-proxy-headers"]
    command += SERVING.flags()  # as `lianjie up` and `lianjie serve` run it
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # A guard against a hang, not a speed target: beside the suite's other workers on a
        # busy 2-core machine, starting the process took over 30 s.
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert process.poll() is None, "the console exited at start"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise TimeoutError(f"the console did not start within {START_TIMEOUT_S} s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


class Visit:
    """One browser context at one size and language; saves screenshots as artifacts."""

    def __init__(self, browser: Any, console: ConsoleStack, locale: str, size: str) -> None:
        self.console, self.locale, self.size = console, locale, size
        self.hosts: set[str] = set()
        self.context = browser.new_context(
            viewport=SIZES[size], locale=locale, base_url=console.url
        )
        self.context.add_init_script(f"localStorage.setItem('lianjie.locale', '{locale}')")
        self.context.route("**/*", only_local(self.hosts))
        self.context.set_default_timeout(20_000)
        self.page = self.context.new_page()
        self.page.on("request", lambda request: self._saw(request.url))

    def _saw(self, url: str) -> None:
        match = re.match(r"^[a-z]+://([^/:]+)", url)
        if match:
            self.hosts.add(match.group(1))

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.locale}-{self.size}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        print(f"screenshot: {path.resolve()}")
        return path

    def sign_in(self, user: str, lands_on: str) -> None:
        page = self.page
        page.goto("/login")
        page.fill("input[name=username]", self.console.users[user])
        page.fill("input[name=password]", PASSWORD)
        page.click("[data-test=sign-in]")
        page.wait_for_url(f"**{lands_on}")

    def sign_out(self) -> None:
        self.page.click("[data-test=sign-out]")
        self.page.wait_for_url("**/login**")

    def pick(self, select: str, label: str, *, type_to_filter: bool = False) -> None:
        """Choose `label` in the Element Plus select marked data-test=`select`."""
        self.page.click(f"[data-test={select}]")
        if type_to_filter:
            self.page.keyboard.type(label)
        option = self.page.locator(".el-select-dropdown__item:visible", has_text=label)
        option.first.click()
        self.page.keyboard.press("Escape")


@pytest.fixture
def visit(request: pytest.FixtureRequest, browser: Any, console: ConsoleStack) -> Iterator[Visit]:
    locale, size = request.param
    opened = Visit(browser, console, locale, size)
    yield opened
    opened.context.close()
