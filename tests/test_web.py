"""The web page in a real browser: Debian's chromium driven by Playwright against a real
`islands serve` on 127.0.0.1 (the embedded gemma-3-270m; the chat model is never loaded):
a CALC hard island coloured with its card, regenerate and switching branches, an example
flow's tree growing to its winner, a 3-node flow built by drag and connect, saved, and run
by `islands flow run` to the same output as in the page, and the memory browser; and, over
the mock engine, a server with an API key that the page asks for. No console errors on any
page. Screenshots go to tests/artifacts/web/ (git-ignored).

The page must be built first (`make web`); Chromium comes from apt (`make test` installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright import sync_api

from islands.engine import Engine, MockModel
from islands.server.app import create_app
from islands.server.background import free_port, serve_in_thread

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
HARD_BG = "rgb(253, 231, 176)"  # --hard-bg in web/src/style.css
BIG = str(2**100)


def _memory_db(path: Path) -> None:
    from islands.memory import MemoryStore, ValueStore

    store = MemoryStore.open(path)
    episode = store.add_episode("We sailed to the island of Tern on Tuesday; the lighthouse keeper grows tea.", source="test")
    old = store.add_memory("The lighthouse keeper on Tern grows tea.", episode_ids=[episode], importance=1.0)
    new = store.add_memory("On Tern island the lighthouse keeper grows green tea.", episode_ids=[episode], importance=2.0)
    store.supersede(old, new)
    ValueStore(store).set("tea", 2.0, "log", 1.0)
    store.close()


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (ROOT / "src" / "islands" / "server" / "static" / "index.html").is_file():
        pytest.fail("the web page is not built: run `make web`")
    tmp = tmp_path_factory.mktemp("web")
    _memory_db(tmp / "memory.db")
    port = free_port()
    log_path = tmp / "serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "islands", "serve", "--port", str(port), "--ctx", "8192", "--flows", str(ROOT / "examples" / "flows"),
         "--memory", str(tmp / "memory.db"), "--quiet"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (apt-get install chromium; `make test` does it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


class Page:
    """A fresh page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 860}, accept_downloads=True)
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def open(self, tab: str) -> Any:
        self.page.goto(f"{self.base}/#/{tab}")
        self.page.wait_for_selector(f"[data-testid=tab-{tab}][aria-current=page]")
        return self.page

    def shot(self, name: str, docs: bool = False) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        if docs and os.environ.get("ISLANDS_WEB_DOCS"):  # ISLANDS_WEB_DOCS=1 refreshes the screenshots in docs/
            shutil.copy(ARTIFACTS / f"{name}.png", ROOT / "docs" / f"web-{name}.png")

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], self.errors


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Page]:
    p = Page(browser, server)
    yield p
    p.close()


def _send(pg: Any, text: str) -> None:
    box = pg.get_by_test_id("prompt")
    box.fill(text)
    box.press("Enter")


def test_calc_is_a_coloured_hard_island_with_a_card_and_regenerate_forks(page: Page, tmp_path: Path) -> None:
    pg = page.open("chat")
    pg.get_by_test_id("mode").select_option("text")
    pg.get_by_test_id("temperature").fill("0")
    pg.get_by_test_id("max-tokens").fill("6")
    _send(pg, "2^100 is CALC(2^100)")
    card = pg.get_by_test_id("island-card").first
    card.wait_for(timeout=60_000)
    assert "CALC" in card.inner_text() and BIG in card.inner_text()
    island = pg.locator(".msg.assistant .island.hard").first
    assert BIG in island.inner_text()
    assert island.evaluate("e => getComputedStyle(e).backgroundColor") == HARD_BG
    reply = pg.locator(".msg.assistant [data-testid=reply]")
    sea = reply.first.text_content() or ""
    assert sea.strip().startswith(f"=> {BIG}"), sea
    page.shot("chat", docs=True)

    # regenerate: a second branch under the same user message; both stay browsable
    pg.get_by_test_id("temperature").fill("1.2")
    pg.get_by_test_id("regenerate").first.click()
    label = pg.get_by_test_id("branch-label")
    sync_api.expect(label).to_have_text("2/2", timeout=30_000)
    pg.get_by_test_id("send").wait_for(timeout=60_000)  # the reply has ended
    second = reply.text_content()
    pg.get_by_test_id("branch-prev").click()
    sync_api.expect(label).to_have_text("1/2")
    sync_api.expect(reply).to_have_text(sea)
    pg.keyboard.press("Alt+ArrowRight")  # the keyboard does the same
    sync_api.expect(label).to_have_text("2/2")
    sync_api.expect(reply).to_have_text(second or "")
    assert pg.get_by_test_id("island-card").count() == 1  # the hard island again, in this branch
    page.shot("chat-branches")

    # export, start afresh, import: both branches come back
    with pg.expect_download() as got:
        pg.get_by_role("button", name="Export").click()
    exported = tmp_path / "conversation.json"
    got.value.save_as(exported)
    doc = json.loads(exported.read_text())
    assert doc["format"] == "islands-conversation" and len(doc["messages"]) == 3
    pg.get_by_role("button", name="New").click()
    assert pg.get_by_test_id("message").count() == 0
    with pg.expect_file_chooser() as chooser:
        pg.get_by_role("button", name="Import").click()
    chooser.value.set_files(str(exported))
    label.wait_for()
    sync_api.expect(label).to_have_text("2/2")
    assert pg.get_by_test_id("island-card").count() == 1

    # memory: what was recalled into the prompt shows as a soft island, and why
    pg.get_by_role("button", name="New").click()
    pg.get_by_label("memory").check()
    _send(pg, "Who grows tea by the lighthouse?")
    card = pg.get_by_test_id("memory-card").first
    card.wait_for(timeout=60_000)
    assert "green tea" in card.inner_text() and "score" in card.inner_text()
    pg.get_by_test_id("send").wait_for(timeout=60_000)

    # n = 2: two replies side by side; "continue with this" picks the other
    pg.get_by_label("memory").uncheck()
    pg.get_by_label("n", exact=True).fill("2")
    _send(pg, " And 6*7 is CALC(6*7)")
    pg.get_by_test_id("send").wait_for(timeout=60_000)
    pair = pg.locator(".side-by-side .msg.assistant")
    sync_api.expect(pair).to_have_count(2)
    sync_api.expect(pair.nth(0)).to_have_class(re.compile("active"))
    assert all("42" in pair.nth(i).get_by_test_id("island-card").inner_text() for i in range(2))
    pair.nth(1).get_by_test_id("choose").click()
    sync_api.expect(pair.nth(1)).to_have_class(re.compile("active"))


def test_a_thousand_message_conversation_imports_and_renders(page: Page, tmp_path: Path) -> None:
    messages, children, active, parent = {}, {}, {}, ""
    for i in range(1000):
        mid = f"m{i}"
        messages[mid] = {"id": mid, "role": "user" if i % 2 == 0 else "assistant", "text": f"message **{i}**", "parent": parent or None}
        children[parent] = [mid]
        active[parent] = mid
        parent = mid
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"format": "islands-conversation", "version": 1, "title": "big", "messages": messages,
                               "children": children, "active": active}))
    pg = page.open("chat")
    with pg.expect_file_chooser() as chooser:
        pg.get_by_role("button", name="Import").click()
    chooser.value.set_files(str(big))
    last = pg.locator(".msg", has_text="message 999")
    last.wait_for()
    assert pg.get_by_test_id("message").count() == 1000
    last.scroll_into_view_if_needed()
    sync_api.expect(last.locator("strong")).to_have_text("999")  # Markdown rendered

    # editing the first message forks the conversation at its root; the 1,000 stay a branch
    pg.get_by_test_id("mode").select_option("text")
    pg.get_by_test_id("max-tokens").fill("2")
    pg.get_by_test_id("edit").first.click()
    pg.get_by_test_id("edit-box").fill("The sea is")
    pg.get_by_test_id("edit-box").press("Enter")
    pg.get_by_test_id("send").wait_for(timeout=60_000)
    sync_api.expect(pg.get_by_test_id("message")).to_have_count(2)
    label = pg.locator(".msg.user").get_by_test_id("branch-label")
    sync_api.expect(label).to_have_text("2/2")
    pg.locator(".msg.user").get_by_test_id("branch-prev").click()
    sync_api.expect(pg.get_by_test_id("message")).to_have_count(1000)


def test_an_example_flow_grows_its_tree_to_the_winner(page: Page) -> None:
    pg = page.open("tree")
    pg.get_by_test_id("flow-select").select_option("best-of-n")
    sizes: list[int] = []
    running: set[str] = set()
    pg.get_by_test_id("run").click()
    deadline = time.monotonic() + 120
    while not pg.get_by_test_id("tree-output").count():
        sizes.append(pg.get_by_test_id("tree-node").count())
        running.update(pg.eval_on_selector_all(".tnode.running", "els => els.map(e => e.dataset.id)"))
        assert time.monotonic() < deadline, "the flow did not finish"
        time.sleep(0.1)
    nodes = pg.get_by_test_id("tree-node")
    ids = [nodes.nth(i).get_attribute("data-id") for i in range(nodes.count())]
    assert {"root", "drafts", "answer"} <= set(ids) and sum(1 for i in ids if i and i.startswith("drafts/")) == 4
    assert any(0 < n < len(ids) for n in sizes), sizes  # drawn as it grew, not all at once at the end
    assert "drafts" in running and pg.locator(".tnode.running").count() == 0  # drawn while it ran, then filled in
    winners = pg.locator("[data-testid=tree-node][data-winner='1']")
    path = [winners.nth(i).get_attribute("data-id") for i in range(winners.count())]
    assert len(path) == 4 and "root" in path and "drafts" in path and "answer" in path
    assert pg.locator(".tnode.pruned").count() == 3
    winner = next(p for p in path if p and p.startswith("drafts/"))
    pg.locator(f"[data-testid=tree-node][data-id='{winner}']").click()
    text = pg.get_by_test_id("picked-text").inner_text()
    assert text.strip() == pg.get_by_test_id("tree-output").inner_text().strip()
    page.shot("tree", docs=True)


def _drop(pg: Any, op: str, x: float, y: float) -> None:
    canvas = pg.get_by_test_id("editor-canvas")
    pg.get_by_test_id(f"palette-{op}").drag_to(canvas, target_position={"x": x, "y": y})


def _node(pg: Any, node_id: str) -> Any:
    return pg.locator(f"[data-testid=flow-node][data-id='{node_id}']")


def _connect(pg: Any, source: str, target: str, port: str) -> None:
    a = _node(pg, source).get_by_test_id("port-out").bounding_box()
    b = _node(pg, target).get_by_test_id(f"port-{port}").bounding_box()
    pg.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    pg.mouse.down()
    pg.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=8)
    pg.mouse.up()


def test_a_flow_built_by_drag_and_connect_runs_the_same_in_the_page_and_the_cli(page: Page, tmp_path: Path) -> None:
    pg = page.open("editor")
    pg.evaluate("localStorage.clear()")
    pg.reload()
    pg.get_by_test_id("palette-generate").wait_for()
    pg.get_by_test_id("flow-name").fill("sea-poem")
    _drop(pg, "input", 120, 120)
    _drop(pg, "generate", 420, 160)
    _drop(pg, "output", 720, 200)
    assert pg.get_by_test_id("flow-node").count() == 3

    _node(pg, "question").click()
    pg.get_by_test_id("field-id").fill("topic")
    pg.get_by_test_id("field-value").fill("the sea at night")
    _node(pg, "generate_1").click()
    pg.get_by_test_id("field-prompt").fill("A short poem about ")
    pg.get_by_test_id("field-temperature").fill("0")
    pg.get_by_test_id("field-max_tokens").fill("0")  # out of range: the error shows on the node
    error = _node(pg, "generate_1").get_by_test_id("node-error")
    error.wait_for()
    assert "max_tokens" in error.inner_text()
    pg.get_by_test_id("field-max_tokens").fill("12")
    error.wait_for(state="detached")

    _connect(pg, "topic", "generate_1", "tpl")
    _connect(pg, "generate_1", "output_1", "from")
    assert pg.locator(".react-flow__edge").count() == 2
    assert "{topic}" in _node(pg, "generate_1").inner_text()
    _connect(pg, "topic", "output_1", "from")  # typed ports: text cannot feed a `from` (variants)
    assert pg.locator(".react-flow__edge").count() == 2

    # the keyboard alone adds a node (a palette button), and undo takes it away
    pg.get_by_test_id("palette-vote").focus()
    pg.keyboard.press("Enter")
    sync_api.expect(pg.get_by_test_id("flow-node")).to_have_count(4)
    pg.get_by_test_id("editor-canvas").click(position={"x": 900, "y": 500})
    pg.keyboard.press("Control+z")
    sync_api.expect(pg.get_by_test_id("flow-node")).to_have_count(3)
    pg.locator("[data-testid=validation].ok").wait_for()

    # undo and redo the last connection; copy/paste a node and undo it
    pg.get_by_test_id("editor-canvas").click(position={"x": 900, "y": 500})
    pg.keyboard.press("Control+z")
    assert pg.locator(".react-flow__edge").count() == 1
    pg.keyboard.press("Control+y")
    assert pg.locator(".react-flow__edge").count() == 2
    _node(pg, "generate_1").click()
    pg.get_by_test_id("editor-canvas").click(position={"x": 900, "y": 500})
    _node(pg, "generate_1").click()
    pg.keyboard.press("Control+c")
    pg.keyboard.press("Control+v")
    assert pg.get_by_test_id("flow-node").count() == 4
    pg.keyboard.press("Control+z")
    assert pg.get_by_test_id("flow-node").count() == 3 and pg.locator(".react-flow__edge").count() == 2
    # a group: metadata the CLI accepts and a run ignores
    _node(pg, "generate_1").click()
    _node(pg, "output_1").click(modifiers=["Control"])
    pg.get_by_test_id("group").click()
    pg.locator("[data-testid=group-frame][data-id='group_1']").wait_for()
    pg.get_by_test_id("arrange").click()
    pg.wait_for_timeout(400)  # the view fits the arranged nodes
    _node(pg, "generate_1").click()
    page.shot("editor", docs=True)

    with pg.expect_download() as got:
        pg.get_by_test_id("save").click()
    saved = tmp_path / got.value.suggested_filename
    got.value.save_as(saved)
    doc = yaml.safe_load(saved.read_text())
    assert doc["inputs"] == {"topic": "the sea at night"}
    assert [n["op"] for n in doc["nodes"]] == ["generate", "output"]
    assert doc["nodes"][0]["prompt"] == "A short poem about {topic}" and doc["nodes"][1]["from"] == "generate_1"
    assert doc["groups"] == [{"name": "group_1", "nodes": ["generate_1", "output_1"]}]

    # Load reads the saved file back: the same flow, the group included
    pg.evaluate("localStorage.clear()")
    pg.reload()
    assert pg.get_by_test_id("flow-node").count() == 0
    with pg.expect_file_chooser() as chooser:
        pg.get_by_test_id("load").click()
    chooser.value.set_files(str(saved))
    sync_api.expect(pg.get_by_test_id("flow-node")).to_have_count(3)
    pg.locator("[data-testid=group-frame][data-id='group_1']").wait_for()
    assert yaml.safe_load(pg.get_by_test_id("yaml").text_content() or "") == doc

    pg.get_by_test_id("run-flow").click()
    pg.get_by_test_id("tree-output").wait_for(timeout=60_000)
    in_page = pg.get_by_test_id("tree-output").text_content() or ""
    sync_api.expect(_node(pg, "output_1").get_by_test_id("node-result")).to_contain_text(in_page.strip()[:20])
    page.shot("editor-run", docs=True)

    cli = subprocess.run([sys.executable, "-m", "islands", "flow", "run", str(saved), "--json"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert cli.returncode == 0, cli.stderr
    assert in_page.strip() and json.loads(cli.stdout)["output"].strip() == in_page.strip()


def test_the_memory_browser_shows_a_memory_its_episode_and_what_it_replaced(page: Page) -> None:
    pg = page.open("memory")
    pg.get_by_test_id("memory-q").fill("lighthouse tea")
    pg.get_by_test_id("memory-q").press("Enter")
    item = pg.get_by_test_id("memory-list").locator("li button", has_text="green tea")
    item.first.wait_for()
    item.first.click()
    pg.get_by_text("what sleep merged into it").wait_for()
    assert "We sailed to the island of Tern" in pg.locator(".memdetail pre").first.inner_text()
    assert "tea" in pg.locator("table.values").inner_text()
    page.shot("memory")


def test_a_server_with_an_api_key_asks_the_page_for_it(browser: Any) -> None:
    app = create_app(Engine(MockModel()), model_name="mock", api_key="s3cret")
    with serve_in_thread(app, stop_s=10) as base:
        page = Page(browser, base)
        pg = page.open("chat")
        pg.get_by_test_id("mode").select_option("text")
        pg.get_by_test_id("max-tokens").fill("4")
        _send(pg, "2^10 is CALC(2^10)")
        sync_api.expect(pg.get_by_test_id("chat-error")).to_contain_text("API key")
        pg.get_by_label("API key").fill("s3cret")
        pg.get_by_role("button", name="Use key").click()
        pg.get_by_test_id("prompt").wait_for()
        pg.get_by_test_id("mode").select_option("text")
        pg.get_by_test_id("max-tokens").fill("4")
        _send(pg, "2^10 is CALC(2^10)")
        sync_api.expect(pg.get_by_test_id("island-card").last).to_contain_text("1024")
        page.errors = [e for e in page.errors if "401" not in e]  # the browser logs the refused request itself
        page.close()
