"""Drive the page in headless Debian Chromium: a photo, a box on one garment, words, a filter."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fashionlens.server.app import create_app

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.skip(f"Debian chromium not installed at {CHROMIUM} (`make system-deps` installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_photo_box_and_words_search_from_the_page(
    browser, engine, two_garments, serving, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    scene, _, right_id = two_garments
    photo = tmp_path / "two-garments.png"
    scene.save(photo)
    shown_results = min(engine.count(), 24)

    with serving(create_app(engine)) as url:
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.goto(url)
        expect(page.locator("#count")).to_have_text(f"{engine.count()} items indexed")
        expect(page.locator("#colors .swatch")).to_have_count(len(engine.facets()["color"]))

        # A photo: results appear with their images, and the page says what it sees.
        page.set_input_files("#file", str(photo))
        cards = page.locator("#grid .item")
        expect(cards).to_have_count(shown_results)
        expect(page.locator("#summary")).to_contain_text("your photo")
        expect(cards.first.locator("img")).to_have_attribute("src", re.compile(r"^/images/"))
        expect(page.locator("#description")).not_to_be_empty()

        # A box over the right garment: that garment comes first.
        shown = page.locator("#photo").bounding_box()
        page.mouse.move(shown["x"] + shown["width"] / 2 + 1, shown["y"] + 1)
        page.mouse.down()
        page.mouse.move(shown["x"] + shown["width"] - 1, shown["y"] + shown["height"] - 1, steps=6)
        page.mouse.up()
        expect(page.locator("#box")).to_be_visible()
        expect(page.locator("#summary")).to_contain_text("boxed garment")
        expect(cards.first.locator(".title")).to_have_text(engine.get(right_id)["title"])

        # Words instead of the photo.
        page.click("#remove-photo")
        page.fill("#text", "a red striped t-shirt")
        page.press("#text", "Enter")
        expect(page.locator("#summary")).to_contain_text("your words")
        expect(cards).to_have_count(shown_results)

        # A category filter keeps only that category.
        category = engine.facets()["category"][-1]
        in_category = engine.search(text="a red striped t-shirt", k=100, where=f"category = '{category}'")
        page.select_option("#category", category)
        expect(page.locator("#grid .item .tag.strong")).to_have_text([category] * len(in_category))
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert not errors, errors
