"""The web page, driven in headless Chromium (Playwright + Debian's /usr/bin/chromium) against
the service (create_app, tiny model, temp SQLite) on a real uvicorn server on 127.0.0.1.

Without /usr/bin/chromium the tests skip, except when ``$CI`` is set: then they FAIL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch

from test_inference import noise, tiny_checkpoint, tone
from test_service_stream import LiveServer, service_app, wav_bytes

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # a fake microphone (a beep) that needs no permission prompt, for the recording test
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but the browser tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed ({exc})")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("web")
    ckpt = tiny_checkpoint(tmp)
    app, keys = service_app(ckpt, tmp, review_sample_rate=1.0)  # every detection is queued
    with LiveServer(app) as live:
        yield live, keys


@pytest.fixture()
def page(browser) -> Iterator[Any]:
    context = browser.new_context(base_url=None)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def enter_key(page: Any, key: str) -> None:
    field = page.get_by_label("API key").and_(page.locator("input"))  # by its label
    field.fill(key)
    field.press("Enter")
    page.wait_for_selector("#key-status:has-text('saved')")


def count_pixels(page: Any, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    return page.evaluate(
        """([sel, rgb, tol]) => {
            const c = document.querySelector(sel);
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1])
                    + Math.abs(d[i + 2] - rgb[2]) <= tol) n++;
            }
            return n;
        }""",
        ["#timeline", list(rgb), tolerance],
    )


def upload(page: Any, live: LiveServer, path: Path) -> dict:
    page.goto(f"{live.url}/")
    page.set_input_files("#file", str(path))
    with page.expect_response("**/v1/detect") as response:
        page.get_by_role("button", name="Analyse file").click()
    return response.value.json()


def test_upload_shows_verdict_p_spoof_and_the_timeline_over_the_waveform(page, service, tmp_path):
    live, keys = service
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes(np.concatenate([tone(1.0), noise(1.0, seed=3)])))
    page.goto(f"{live.url}/")
    enter_key(page, keys["admin"])
    body = upload(page, live, path)  # the key survives the reload (sessionStorage)
    assert body["verdict"] in ("bonafide", "spoof", "review") and len(body["windows"]) > 20
    verdict = page.locator("#verdict")
    verdict.wait_for()
    assert verdict.get_attribute("data-verdict") == body["verdict"]
    assert page.locator("#p-spoof").inner_text() == f"{body['p_spoof']:.3f}"
    assert page.locator("#duration").inner_text() == f"{body['duration_s']:.2f} s"
    assert page.locator("#detection-id").inner_text() == body["id"]
    canvas = page.locator("#timeline")
    assert canvas.get_attribute("data-plotted") == "true"
    assert canvas.get_attribute("data-windows") == str(len(body["windows"]))
    assert canvas.get_attribute("data-waveform") == "true"
    assert count_pixels(page, (0x1F, 0x4E, 0x9A)) > 200  # the p_spoof line
    assert count_pixels(page, (0x9A, 0xA3, 0xAD), 12) > 2000  # the waveform
    assert page.locator("#windows tr").count() == len(body["windows"])


def test_api_errors_are_shown_readably(page, service, tmp_path):
    live, keys = service
    page.goto(f"{live.url}/")
    enter_key(page, "ssk_wrong_key")
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes(tone(0.5)))
    upload(page, live, path)
    alert = page.get_by_role("alert")
    assert "401" in alert.inner_text() and "API key" in alert.inner_text()
    enter_key(page, keys["detect"])
    text = tmp_path / "notes.wav"
    text.write_text("these are not audio samples\n" * 50)
    upload(page, live, text)
    assert "415" in alert.inner_text() or "422" in alert.inner_text()
    assert "Traceback" not in alert.inner_text()


def test_microphone_recording_is_analysed(page, service):
    live, keys = service
    page.goto(f"{live.url}/")
    enter_key(page, keys["detect"])
    record = page.get_by_role("button", name="Record from microphone")
    record.click()
    page.wait_for_selector("#record[aria-pressed='true']")
    page.wait_for_timeout(1200)
    with page.expect_response("**/v1/detect") as response:
        page.get_by_role("button", name="Stop recording").click()
    body = response.value.json()
    assert response.value.status == 200, body
    assert body["duration_s"] > 0.5
    page.locator("#verdict[data-verdict]").wait_for()
    assert page.locator("#timeline").get_attribute("data-plotted") == "true"


def test_review_an_item_with_the_keyboard_and_it_leaves_the_queue(page, service):
    live, keys = service
    name = f"review-me-{uuid.uuid4().hex[:8]}.wav"
    posted = httpx.post(
        f"{live.url}/v1/detect",
        headers={"X-API-Key": keys["detect"]},
        files={"file": (name, wav_bytes(noise(0.8, seed=4)), "audio/wav")},
    )
    assert posted.status_code == 200, posted.text
    page.goto(f"{live.url}/review")
    enter_key(page, keys["review"])
    item = page.locator("li.item", has=page.get_by_role("heading", name=name))
    item.wait_for()
    assert item.locator("canvas").get_attribute("data-plotted") == "true"
    item.get_by_label("Spoof (synthetic or converted)").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.type("robotic prosody")
    page.keyboard.press("Tab")
    with page.expect_response(lambda r: "/v1/review/" in r.url and r.request.method == "POST"):
        page.keyboard.press("Enter")
    item.wait_for(state="detached")
    assert "Labelled as spoof" in page.locator("#queue-status").inner_text()
    headers = {"X-API-Key": keys["review"]}
    open_items = httpx.get(f"{live.url}/v1/review", headers=headers).json()["items"]
    assert name not in [i["detection"]["source"] for i in open_items]
    done = httpx.get(f"{live.url}/v1/review?status=labelled", headers=headers).json()["items"]
    mine = [i for i in done if i["detection"]["source"] == name]
    assert [(i["label"], i["comment"]) for i in mine] == [("spoof", "robotic prosody")]
    page.reload()  # and it stays gone
    page.locator("#queue[data-loaded='true']").wait_for()
    assert page.locator("li.item", has=page.get_by_role("heading", name=name)).count() == 0


def test_review_page_without_the_scope_says_why(page, service):
    live, keys = service
    page.goto(f"{live.url}/review")
    enter_key(page, keys["detect"])
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "403" in alert.inner_text() and "scope" in alert.inner_text()


@pytest.mark.parametrize("path", ["/", "/review"])
def test_every_control_has_a_label_and_the_page_no_external_resource(page, service, path):
    live, _ = service
    external: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live.url) else external.append(r.url))
    page.goto(f"{live.url}{path}")
    page.wait_for_load_state("networkidle")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, textarea, select, button")]
            .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
                           && !e.textContent.trim())
            .map((e) => e.outerHTML)"""
    )
    assert unlabelled == [] and external == []
    assert page.locator("html").get_attribute("lang") == "en"
