"""Console browser tests share the root conftest's `browser` and `page` fixtures (one
Playwright instance per test process); this module keeps the screenshot helper."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, base: str, username: str, path: str) -> None:
    """Open `path`, sign in on the login page it leads to, and wait to be back on `path`."""
    from tests.conftest import PASSWORD

    page.goto(f"{base}{path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}")
