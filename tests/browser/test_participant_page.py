"""The participant page in a real browser: consent, chat both ways, Quick Exit, erase,
crisis resources, a 360 px phone, and resuming after a dropped connection.

Every test also checks that the page talked to nobody but the app's own origin.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, QUICK_EXIT_ORIGIN, Participant

pytestmark = pytest.mark.browser

People = Callable[..., Participant]
SCREENSHOT_CONSENT = "/tmp/peerline-consent-360.png"
SCREENSHOT_CHAT = "/tmp/peerline-chat-360.png"
SCREENSHOT_HELP = "/tmp/peerline-help-360.png"


def tag() -> str:
    return secrets.token_hex(4)


def route_quick_exit(page: Any) -> None:
    page.route(
        f"{QUICK_EXIT_ORIGIN}/**",
        lambda route: route.fulfill(body="neutral", content_type="text/html"),
    )


def test_two_participants_chat_both_ways(people: People) -> None:
    alex, blair = people(), people()
    alex_name, blair_name = alex.accept(), blair.accept()
    alex.join()
    blair.join()
    expect(alex.page.locator("#chat-presence")).to_have_text("2 here")

    # Alex writes; Blair sees the words and Alex's pseudonym; Alex sees it once, as sent.
    hello = f"Hello from Alex {tag()}"
    alex.say(hello)
    on_blair = blair.messages(hello)
    expect(on_blair).to_have_count(1)
    expect(on_blair.locator(".msg-who")).to_have_text(alex_name)
    expect(on_blair).not_to_have_class(re.compile(r"\bown\b"))
    mine = alex.messages(hello)
    expect(mine).to_have_count(1)
    expect(mine).to_have_class(re.compile(r"\bown\b"))
    expect(mine).not_to_have_class(re.compile(r"\bpending\b"))
    expect(alex.page.locator("#composer-text")).to_have_value("")

    # Typing: Blair types, Alex is told.
    blair.page.locator("#composer-text").press_sequentially("Hi", delay=20)
    expect(alex.page.locator("#typing")).to_have_text(f"{blair_name} is typing…")

    # Blair answers, with text that would be markup if it were ever parsed as HTML.
    reply = f"Hi Alex <img src=x id=injected> <b>{tag()}</b>"
    blair.page.locator("#composer-text").fill(reply)
    blair.page.locator("#composer-text").press("Enter")  # Enter sends
    on_alex = alex.messages(reply)
    expect(on_alex).to_have_count(1)
    expect(on_alex.locator(".msg-who")).to_have_text(blair_name)
    expect(on_alex.locator(".msg-text")).to_have_text(reply)
    assert alex.page.locator("#injected").count() == 0
    expect(blair.messages(reply)).to_have_count(1)
    # The typing hint ends with the message.
    expect(alex.page.locator("#typing")).to_have_text("")

    # A wait then a recount: the own message is still there exactly once on both sides.
    alex.page.wait_for_timeout(300)
    expect(alex.messages(hello)).to_have_count(1)
    expect(blair.messages(reply)).to_have_count(1)

    # Alex reports Blair's message: asked for a reason, then thanked.
    on_alex.get_by_role("button", name=f"Report message from {blair_name}").click()
    dialog = alex.page.locator("#report-dialog")
    expect(dialog).to_be_visible()
    alex.page.locator("#report-reason").fill("testing the report flow")
    dialog.get_by_role("button", name="Send report").click()
    expect(alex.page.locator("#chat-status")).to_contain_text("Thank you for the report")
    expect(on_alex.locator(".msg-report")).to_have_text("Reported")

    # Leaving goes back to the room list.
    blair.page.get_by_role("button", name="Leave room").click()
    expect(blair.page.get_by_role("heading", name="Rooms")).to_be_visible()
    expect(alex.page.locator("#chat-presence")).to_have_text("1 here")

    alex.assert_only_app_requests()
    blair.assert_only_app_requests()


def test_invite_room_asks_for_the_code(people: People) -> None:
    casey = people()
    casey.accept()
    casey.page.get_by_role("button", name="Join Officers in recovery").click()
    dialog = casey.page.locator("#invite-dialog")
    expect(dialog).to_be_visible()
    casey.page.locator("#invite-code").fill("not-the-code")
    dialog.get_by_role("button", name="Join").click()
    expect(dialog).to_be_visible()
    expect(casey.page.locator("#invite-status")).to_contain_text("not valid")
    casey.page.locator("#invite-code").fill("blue-harbor-demo")
    dialog.get_by_role("button", name="Join").click()
    expect(casey.page.locator("#chat-title")).to_have_text("Officers in recovery")
    casey.assert_only_app_requests()


def test_quick_exit_leaves_no_trace(people: People) -> None:
    dana = people()
    page = dana.page
    route_quick_exit(page)
    dana.accept()
    dana.join()
    before = f"Before leaving {tag()}"
    dana.say(before)
    expect(dana.messages(before)).not_to_have_class(re.compile(r"\bpending\b"))
    # Something in both storages: a canary in localStorage, and an unsent message (held while
    # the socket is down) in sessionStorage.
    page.evaluate("localStorage.setItem('canary', 'x')")
    page.evaluate("window.__peerline.dropSocket({reconnectAfterMs: 60000})")
    dana.say(f"Unsent words {tag()}")
    expect(dana.page.locator("#messages li.pending")).to_have_count(1)
    assert page.evaluate("sessionStorage.length") > 0
    assert page.evaluate("localStorage.length") > 0

    page.get_by_role("button", name="Quick exit").click()
    page.wait_for_url(f"{QUICK_EXIT_ORIGIN}/**")
    expect(page.locator("body")).to_have_text("neutral")

    # Back must not return to the chat: the app's entry was replaced, not pushed.
    page.go_back()
    assert not page.url.startswith(dana.base), page.url

    # The app origin's storage in this tab (sessionStorage is per tab) and in the context.
    page.goto(f"{dana.base}/healthz")
    assert page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]
    other = dana.context.new_page()
    other.goto(f"{dana.base}/healthz")
    assert other.evaluate("localStorage.length") == 0
    # The session ended on the server too: whoever opens the site next on this device
    # meets the consent screen, not this person's chat.
    status = other.evaluate("fetch('/api/session').then(r => r.status)")
    assert status == 401
    dana.assert_only_app_requests(allowed=(QUICK_EXIT_ORIGIN,))


def test_escape_three_times_is_a_quick_exit(people: People) -> None:
    eli = people()
    route_quick_exit(eli.page)
    eli.open()  # works before consent too
    for _ in range(3):
        eli.page.keyboard.press("Escape")
    eli.page.wait_for_url(f"{QUICK_EXIT_ORIGIN}/**")
    eli.assert_only_app_requests(allowed=(QUICK_EXIT_ORIGIN,))


def test_quick_exit_works_while_a_dialog_is_open(people: People) -> None:
    """A modal dialog covers the header, so each dialog carries its own Quick exit."""
    flo = people(PHONE)
    route_quick_exit(flo.page)
    flo.open()
    flo.page.get_by_role("button", name="Get help now").first.click()
    dialog = flo.page.locator("#help-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Quick exit").click()
    flo.page.wait_for_url(f"{QUICK_EXIT_ORIGIN}/**")
    flo.assert_only_app_requests(allowed=(QUICK_EXIT_ORIGIN,))


def test_erase_removes_my_messages_everywhere(people: People) -> None:
    fran, gale = people(), people()
    fran.accept()
    gale.accept()
    fran.join()
    gale.join()
    words = f"Please forget this {tag()}"
    fran.say(words)
    expect(gale.messages(words)).to_have_count(1)
    expect(fran.messages(words)).to_have_count(1)

    fran.page.get_by_role("button", name="Erase my messages").click()
    dialog = fran.page.locator("#erase-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("ends your session")
    # Cancel first: nothing happens.
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(gale.messages(words)).to_have_count(1)

    # The server cannot erase right now (503): the page says so, and nothing was erased.
    fran.page.route(
        "**/api/session",
        lambda route: (
            route.fulfill(
                status=503,
                content_type="application/json",
                body='{"error": "unavailable", "detail": "storage is unavailable"}',
            )
            if route.request.method == "DELETE"
            else route.continue_()
        ),
    )
    fran.page.get_by_role("button", name="Erase my messages").click()
    dialog.get_by_role("button", name="Erase everything").click()
    expect(fran.page.locator("#erase-status")).to_contain_text("Nothing was erased")
    expect(dialog).to_be_visible()
    fran.page.unroute("**/api/session")
    expect(gale.messages(words)).to_have_count(1)

    # Now for real.
    dialog.get_by_role("button", name="Erase everything").click()
    expect(fran.page.get_by_role("heading", name="Your messages were erased.")).to_be_visible()
    expect(gale.messages(words)).to_have_count(0)  # the `erased` frame reached Gale
    assert fran.context.cookies() == []  # the session cookie is gone
    assert fran.page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]

    # A fresh start is offered; the erased words do not come back in the room's history.
    fran.page.get_by_role("button", name="Start again").click()
    expect(fran.page.get_by_role("button", name="I accept")).to_be_visible()
    gale.page.reload()
    gale.page.locator("#chat-title", has_text="General recovery").wait_for()
    expect(gale.messages(words)).to_have_count(0)
    fran.assert_only_app_requests()
    gale.assert_only_app_requests()


def test_crisis_resources_one_tap_away(people: People) -> None:
    hana = people(PHONE)
    hana.open()
    page = hana.page
    help_dialog = page.locator("#help-dialog")

    # From the consent screen.
    page.get_by_role("button", name="Get help now").first.click()
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("988")
    expect(help_dialog).to_contain_text("Peerline is not an emergency service.")
    expect(help_dialog.locator('a[href="tel:988"]')).to_have_count(1)
    expect(help_dialog.locator('a[href="tel:18006624357"]')).to_have_count(1)
    page.screenshot(path=SCREENSHOT_HELP)
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    # From the chat view.
    hana.accept()
    hana.join()
    page.locator("header").get_by_role("button", name="Get help now").click()
    expect(help_dialog).to_be_visible()
    expect(help_dialog.locator(".resource-name").first).to_contain_text("988")
    help_dialog.get_by_role("button", name="Close").first.click()
    expect(help_dialog).to_be_hidden()
    expect(page.locator("#view-chat")).to_be_visible()
    hana.assert_only_app_requests()


def test_phone_width_has_no_sideways_scroll(people: People) -> None:
    ivy = people(PHONE)
    ivy.open()
    page = ivy.page
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=SCREENSHOT_CONSENT, full_page=True)
    ivy.accept()
    ivy.join()
    ivy.say("Day 12. Went to a meeting this morning and it helped.")
    ivy.say("a" * 400)  # one long word must wrap, not widen the page
    expect(ivy.messages("Day 12.")).to_have_count(1)
    expect(page.locator("#messages li.msg.pending")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    for name in ("Send", "Quick exit", "Get help now"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_in_viewport()
    page.screenshot(path=SCREENSHOT_CHAT)
    ivy.assert_only_app_requests()


def test_reconnect_delivers_unsent_words_exactly_once(people: People) -> None:
    jo, kim = people(), people()
    jo.accept()
    kim.accept()
    jo.join()
    kim.join()
    expect(jo.page.locator("#chat-presence")).to_have_text("2 here")

    jo.page.evaluate("window.__peerline.dropSocket({reconnectAfterMs: 1500})")
    expect(jo.page.locator("#conn-banner")).to_have_text(re.compile("Reconnecting"))
    offline = f"Written while offline {tag()}"
    jo.say(offline)
    pending = jo.page.locator("#messages li.pending", has_text=offline)
    expect(pending).to_have_count(1)
    expect(pending).to_contain_text("waiting for the connection")
    missed = f"Said while Jo was away {tag()}"
    kim.say(missed)
    expect(kim.messages(missed)).to_have_count(1)

    # After the reconnect: Jo's words reach Kim once, and Jo gets what was missed.
    expect(kim.messages(offline)).to_have_count(1)
    expect(jo.page.locator("#messages li.pending")).to_have_count(0)
    expect(jo.messages(offline)).to_have_count(1)
    expect(jo.messages(offline)).not_to_have_class(re.compile(r"\bpending\b"))
    expect(jo.messages(missed)).to_have_count(1)
    expect(jo.page.locator("#conn-banner")).to_be_hidden()
    kim.page.wait_for_timeout(500)
    expect(kim.messages(offline)).to_have_count(1)
    assert jo.page.evaluate("window.__peerline.pendingCount()") == 0
    jo.assert_only_app_requests()
    kim.assert_only_app_requests()


def test_lost_ack_is_resent_with_the_same_nonce(people: People) -> None:
    """The server stores a message but its ack never arrives: the page reconnects, sends the
    same nonce again, and the server's dedup makes it one message for everybody."""
    lee, max_ = people(), people()
    lost = {"armed": False, "nonces": [], "says": []}

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        closed = {"done": False}

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str) and '"say"' in message:
                frame = json.loads(message)
                lost["says"].append(frame["nonce"])
            if not closed["done"]:
                server.send(message)

        def from_server(message: str | bytes) -> None:
            if closed["done"]:
                return
            if lost["armed"] and isinstance(message, str) and '"type":"ack"' in message:
                lost["armed"] = False
                lost["nonces"].append(json.loads(message)["nonce"])
                closed["done"] = True
                ws.close(code=4002, reason="test: connection lost before the ack")
                server.close()
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    lee.page.route_web_socket(re.compile(r"/ws$"), route)
    lee.accept()
    max_.accept()
    lee.join()
    max_.join()

    words = f"This ack gets lost {tag()}"
    # Count how many copies of the words Lee can see at any moment, not only at the end.
    lee.page.evaluate(
        """(words) => {
            window.__most = 0;
            const list = document.getElementById("messages");
            const count = () => {
                const shown = [...list.querySelectorAll("li.msg")]
                    .filter((li) => !li.hidden && li.textContent.includes(words)).length;
                window.__most = Math.max(window.__most, shown);
            };
            new MutationObserver(count).observe(list, {
                childList: true, subtree: true, attributes: true, characterData: true,
            });
        }""",
        words,
    )
    lost["armed"] = True
    lee.say(words)
    expect(max_.messages(words)).to_have_count(1)
    expect(lee.page.locator("#messages li.pending")).to_have_count(0)
    expect(lee.messages(words)).to_have_count(1)
    expect(lee.messages(words)).not_to_have_class(re.compile(r"\bpending\b"))
    assert len(lost["nonces"]) == 1
    # The same nonce went out twice: once before the drop, once after the reconnect.
    assert lost["says"].count(lost["nonces"][0]) == 2, lost
    max_.page.wait_for_timeout(500)
    expect(max_.messages(words)).to_have_count(1)
    expect(lee.messages(words)).to_have_count(1)
    assert lee.page.evaluate("window.__most") == 1  # never shown twice, even for a moment
    lee.assert_only_app_requests()
    max_.assert_only_app_requests()


def test_reload_keeps_unsent_words(people: People) -> None:
    """Unsent messages live in sessionStorage: a reload sends them, once."""
    nat, oli = people(), people()
    nat.accept()
    oli.accept()
    nat.join()
    oli.join()
    nat.page.evaluate("window.__peerline.dropSocket({reconnectAfterMs: 60000})")
    words = f"Typed before a reload {tag()}"
    nat.say(words)
    expect(nat.page.locator("#messages li.pending", has_text=words)).to_have_count(1)
    nat.page.reload()
    # Back in the same room, the words sent once and shown once.
    expect(nat.page.locator("#chat-title")).to_have_text("General recovery")
    expect(oli.messages(words)).to_have_count(1)
    expect(nat.page.locator("#messages li.pending")).to_have_count(0)
    expect(nat.messages(words)).to_have_count(1)
    oli.page.wait_for_timeout(300)
    expect(oli.messages(words)).to_have_count(1)
    assert nat.page.evaluate("sessionStorage.getItem('peerline.pending')") is None
    nat.assert_only_app_requests()
    oli.assert_only_app_requests()


def test_session_ended_elsewhere_returns_to_consent(people: People) -> None:
    """The server closes the socket with 1008 when the session is gone: no retry loop, the
    consent screen comes back."""
    pat = people()
    pat.accept()
    pat.join()
    other = pat.context.new_page()
    other.goto(f"{pat.base}/healthz")
    status = other.evaluate("fetch('/api/session', {method: 'DELETE'}).then((r) => r.status)")
    assert status == 204
    other.close()
    page = pat.page
    expect(page.get_by_role("button", name="I accept")).to_be_visible()
    expect(page.locator("#consent-note")).to_contain_text("Your session has ended")
    sockets = len(pat.sockets)
    page.wait_for_timeout(1500)
    assert len(pat.sockets) == sockets  # it did not try to reconnect
    pat.assert_only_app_requests()


def test_resume_pages_through_a_long_gap(people: People) -> None:
    """More than one page of history (200) arrives while away: the page joins again from the
    last id it got until `more` is false, and shows every message once, in order."""
    quinn, rae = people(), people()
    quinn.accept()
    rae.accept()
    quinn.join()
    rae.join()
    quinn.page.evaluate("window.__peerline.dropSocket({reconnectAfterMs: 60000})")
    expect(quinn.page.locator("#conn-banner")).to_have_text(re.compile("Reconnecting"))
    mark, count = tag(), 250
    acks = rae.page.evaluate(
        """async ([mark, count]) => {
            const ws = new WebSocket(`ws://${location.host}/ws`);
            let acks = 0;
            await new Promise((resolve, reject) => {
                ws.onerror = reject;
                ws.onmessage = (event) => {
                    const frame = JSON.parse(event.data);
                    if (frame.type === "hello") {
                        ws.send(JSON.stringify({ type: "join", room: "general", since: null }));
                    } else if (frame.type === "joined") {
                        for (let i = 0; i < count; i++) {
                            const text = `${mark} #${String(i).padStart(3, "0")}`;
                            ws.send(JSON.stringify({ type: "say", room: "general", text, nonce: `${mark}-${i}` }));
                        }
                    } else if (frame.type === "ack" && ++acks === count) {
                        resolve();
                    }
                };
            });
            ws.close();
            return acks;
        }""",
        [mark, count],
    )
    assert acks == count
    quinn.page.evaluate("window.__peerline.reconnectNow()")
    expect(quinn.messages(mark)).to_have_count(count, timeout=15_000)
    texts = quinn.page.locator("#messages li.msg .msg-text").all_inner_texts()
    mine = [t for t in texts if t.startswith(mark)]
    assert mine == [f"{mark} #{i:03d}" for i in range(count)]
    quinn.assert_only_app_requests()
    rae.assert_only_app_requests()


def test_unavailable_say_stays_pending_and_is_retried(people: People) -> None:
    """A say refused with `unavailable` is not lost: it is sent again, same nonce, soon."""
    sam, tay = people(), people()
    seen: dict[str, list[str]] = {"says": [], "refused": []}

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str) and '"type":"say"' in message:
                frame = json.loads(message)
                seen["says"].append(frame["nonce"])
                if not seen["refused"]:
                    seen["refused"].append(frame["nonce"])
                    ws.send(
                        json.dumps(
                            {
                                "type": "error",
                                "code": "unavailable",
                                "detail": "storage is unavailable; retry shortly",
                                "ref": frame.get("ref"),
                            }
                        )
                    )
                    return
            server.send(message)

        ws.on_message(from_page)
        server.on_message(lambda message: ws.send(message))

    sam.page.route_web_socket(re.compile(r"/ws$"), route)
    sam.accept()
    tay.accept()
    sam.join()
    tay.join()
    words = f"Refused once, then sent {tag()}"
    sam.say(words)
    pending = sam.page.locator("#messages li.pending", has_text=words)
    expect(pending).to_contain_text("storage is unavailable")
    expect(tay.messages(words)).to_have_count(1)
    expect(sam.page.locator("#messages li.pending")).to_have_count(0)
    expect(sam.messages(words)).to_have_count(1)
    assert seen["says"] == [seen["refused"][0]] * 2
    sam.assert_only_app_requests()
    tay.assert_only_app_requests()
