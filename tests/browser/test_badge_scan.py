"""QR badges in headless Chromium (issue 6, item 4): an administrator prints a badge in the console; the QR code on
that page is read back (jsQR, in the page), drawn again from segno's matrix into a Y4M video, and fed to a Chromium
of this test's own as its camera (--use-fake-device-for-media-stream --use-file-for-fake-video-capture); the pupil
opens a platform, chooses "Inloggen met je badge", holds the badge up, and arrives at the platform logged in with
amr ["badge"]. Also the typed short code, the picture a school may ask for, and axe-core on the scanning page, the
picture page and the console's badge pages, in Dutch and in English."""
from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
import pytest
import segno
from playwright.sync_api import expect

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Platform,
    assert_accessible,
    log_in,
    make_platform,
    open_browser,
)

pytestmark = pytest.mark.browser

ACR_BADGE = "urn:leerid:acr:badge"
CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
WIDTH, HEIGHT = 640, 480
READ_QR = """async () => {
  const svg = document.querySelector('.badge-card svg').cloneNode(true);
  svg.setAttribute('width', '400'); svg.setAttribute('height', '400');
  const image = new Image();
  image.src = 'data:image/svg+xml;base64,' + btoa(new XMLSerializer().serializeToString(svg));
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = 440; canvas.height = 440;
  const context = canvas.getContext('2d');
  context.fillStyle = '#fff'; context.fillRect(0, 0, 440, 440);
  context.drawImage(image, 20, 20, 400, 400);
  const pixels = context.getImageData(0, 0, 440, 440);
  const found = jsQR(pixels.data, 440, 440);
  return found ? found.data : null;
}"""


def create(provider, number: str, role: str, *extra: str) -> dict:
    username, password = f"q{role[:3]}{secrets.token_hex(4)}", f"Pw-{secrets.token_urlsafe(12)}"
    out = provider.cli("users", "create", "--username", username, "--password", password, "--given-name", "Mila",
                       "--family-name", f"Badge{secrets.token_hex(2)}", "--role", role, "--school", number, *extra)
    return dict(out, username=username, password=password, role=role)


class School:
    def __init__(self, provider):
        self.number = provider.school()
        self.admin = create(provider, self.number, "staff", "--school-admin")
        self.teacher = create(provider, self.number, "teacher", "--class", "1A")
        self.platform: Platform = make_platform(provider, self.number)
        self.issuer = provider.issuer
        self.class_id: int | None = None

    def pupil(self, provider) -> dict:
        return create(provider, self.number, "pupil", "--class", "1A", "--birthdate", "2020-02-02")

    def class_badges(self) -> str:
        return f"{self.issuer}/beheer/{self.number}/klassen/{self.class_id}/badges"


@pytest.fixture(scope="module")
def school(provider) -> School:
    return School(provider)


def open_class_badges(page, school: School) -> None:
    """The administrator, logged in, on class 1A's badge page (through the class page's link)."""
    page.goto(f"{school.issuer}/beheer/{school.number}/klassen")
    if page.locator("input[name=password]").count():
        log_in(page, school.admin)
    page.get_by_role("link", name="1A").first.click()
    page.locator("a[href$='/badges']").first.click()
    school.class_id = int(re.search(r"/klassen/(\d+)/badges", page.url).group(1))
    expect(page.get_by_role("heading", level=1)).to_contain_text("1A")


def print_badge(page, school: School, pupil: dict) -> None:
    """On the class's badge page: a new badge for the pupil; the page to print opens."""
    page.goto(school.class_badges())
    page.locator(f"form[action$='/{pupil['id']}/nieuw'] button").click()
    page.locator(".badge-card svg").wait_for()


def read_printed_qr(page, issuer: str) -> str:
    page.add_script_tag(url=f"{issuer}/static/vendor/jsQR.js")
    url = page.evaluate(READ_QR)
    assert url and url.startswith(f"{issuer}/badge#"), url
    return url


def write_y4m(url: str, path: Path, frames: int = 6) -> Path:
    """The badge as the camera sees it: the QR code (4 modules of quiet zone) on a grey desk, as raw I420 frames."""
    matrix = segno.make(url, error="m").matrix
    quiet, size = 4, len(segno.make(url, error="m").matrix)
    scale = (HEIGHT - 60) // (size + 2 * quiet)
    side = (size + 2 * quiet) * scale
    left, top = (WIDTH - side) // 2, (HEIGHT - side) // 2
    luma = bytearray([110]) * (WIDTH * HEIGHT)  # a grey desk
    for y in range(side):
        row = (y // scale) - quiet
        line = bytearray()
        for x in range(side):
            column = (x // scale) - quiet
            dark = 0 <= row < size and 0 <= column < size and matrix[row][column]
            line.append(16 if dark else 235)
        start = (top + y) * WIDTH + left
        luma[start:start + side] = line
    chroma = bytes([128]) * (WIDTH // 2 * HEIGHT // 2)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(luma)
            out.write(chroma)
            out.write(chroma)
    return path


def redeem(provider, platform: Platform, code: str) -> dict:
    from tests.protocol.helpers import verify_id_token

    response = httpx.post(f"{provider.issuer}/token", auth=(platform.client_id, platform.client_secret),
                          data={"grant_type": "authorization_code", "code": code, "redirect_uri": platform.redirect_uri,
                                "code_verifier": platform.verifier}, trust_env=False, timeout=30)
    assert response.status_code == 200, response.text
    return verify_id_token(provider, response.json()["id_token"], platform.client_id, nonce=platform.nonce)


def start_badge_login(page, platform: Platform, **extra: str) -> None:
    page.goto(platform.authorize_url(**extra))
    page.locator("a[href$='/badge']").click()
    page.locator("input[name=code]").wait_for()


def test_scanning_a_printed_badge_with_the_camera_logs_the_pupil_in(browser, person, provider, school, tmp_path):
    pupil = school.pupil(provider)
    page = person.page
    open_class_badges(page, school)
    print_badge(page, school, pupil)
    url = read_printed_qr(page, provider.issuer)
    video = write_y4m(url, tmp_path / "badge.y4m")

    camera = browser.browser_type.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, *CAMERA_ARGS, f"--use-file-for-fake-video-capture={video}"])
    try:
        classroom = open_browser(camera)
        tablet = classroom.page
        start_badge_login(tablet, school.platform)  # the scanning page was there: the camera may scan at once
        callback = classroom.wait_for_callback(timeout_ms=30_000)
        assert callback.query.get("state") == school.platform.state and "code" in callback.query
        claims = redeem(provider, school.platform, callback.query["code"])
        assert claims["amr"] == ["badge"] and claims["acr"] == ACR_BADGE
        classroom.context.close()
    finally:
        camera.close()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_typing_the_short_code_and_the_scanning_page_is_accessible(request, provider, school, lang):
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    admin_page = opened.context.new_page()
    pupil = school.pupil(provider)
    open_class_badges(admin_page, school)
    print_badge(admin_page, school, pupil)
    code = admin_page.locator(".badge-card .code").inner_text()
    admin_page.locator("form.signout button").count()  # the print page has no sign-out: the admin stays
    opened.context.clear_cookies()  # the pupil's tablet: nobody logged in

    page = opened.page
    start_badge_login(page, school.platform)
    assert page.locator("html").get_attribute("lang") == lang
    assert_accessible(page, f"badge scanning page ({lang})")
    page.locator("input[name=code]").fill("ACDEF GHJK3")
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, f"badge scanning page with an unknown code ({lang})")
    page.locator("input[name=code]").fill(code.lower())
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    callback = opened.wait_for_callback()
    assert "code" in callback.query


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_picture_step_and_the_console_badge_pages_are_accessible(request, provider, lang):
    school = School(provider)
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    page = opened.page
    open_class_badges(page, school)
    assert_accessible(page, f"class badges page ({lang})")
    page.goto(f"{provider.issuer}/beheer/{school.number}/badges")
    assert_accessible(page, f"school badge settings ({lang})")
    page.locator("textarea[name=netwerken]").fill("geen netwerk")
    page.locator("form:has(textarea) button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, f"school badge settings with an error ({lang})")
    page.locator("textarea[name=netwerken]").fill("")
    page.locator("input[name=stap][value=picture]").check()
    page.locator("form:has(textarea) button[type=submit]").click()
    expect(page.get_by_role("status")).to_be_visible()

    pupil = school.pupil(provider)
    print_badge(page, school, pupil)
    assert_accessible(page, f"badges to print ({lang})")
    code = page.locator(".badge-card .code").inner_text()
    picture = page.locator(".badge-secrets tbody td").inner_text().split()[-1]

    opened.context.clear_cookies()
    start_badge_login(page, school.platform)
    page.locator("input[name=code]").fill(code)
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    page.locator("button[name=picture]").first.wait_for()
    assert_accessible(page, f"picture page ({lang})")
    wrong = page.locator("button[name=picture]").filter(has_not_text=picture).first
    wrong.click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, f"picture page with a wrong picture ({lang})")
    page.locator("button[name=picture]").filter(has_text=picture).click()
    assert "code" in opened.wait_for_callback().query


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_teachers_badge_pages_are_accessible(request, provider, school, lang):
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    pupil = school.pupil(provider)
    page = opened.page
    page.goto(f"{provider.issuer}/beheer/badges")
    log_in(page, school.teacher)
    page.wait_for_url(f"{provider.issuer}/beheer/badges")
    assert_accessible(page, f"a teacher's classes ({lang})")
    page.get_by_role("link", name=re.compile("1A")).click()
    expect(page.locator(f"form[action$='/{pupil['id']}/dag']")).to_be_visible()
    expect(page.locator(f"form[action$='/{pupil['id']}/nieuw']")).to_have_count(0)
    assert_accessible(page, f"a teacher's class badges page ({lang})")
    page.locator(f"form[action$='/{pupil['id']}/dag'] button").click()
    expect(page.locator(".badge-card .day")).to_be_visible()
    assert_accessible(page, f"a day badge to print ({lang})")
