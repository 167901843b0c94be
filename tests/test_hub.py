"""A class on a shared JupyterHub, on this machine: five learners log in at once, each gets
a server of their own, runs notebook 02 in their own kernel through the REST API and
passes its exercise checks; their progress files are their own. It measures each
learner's peak memory (server and kernel together); docs/hub.md sizes a hub from it.

Everything stays on 127.0.0.1. The hub is JupyterHub (requirements.txt) with its
shared-password authenticator (any name, one shared password, as a
workshop hub might use) and SimpleLocalProcessSpawner (every
learner a process of this user, with a home folder of their own, in the test's temporary
folder); its proxy is configurable-http-proxy from npm, installed the first time into
.cache/hub/ (gitignored). Without npm the test skips and says so (.ci/run installs npm).
Bounded: the hub must answer within HUB_START_S, each learner must finish within
LEARNER_S, every HTTP request times out after REQUEST_S.

    COURSE_HUB_REPORT=hub.json pytest tests/test_hub.py -p no:xdist -s   # keep the numbers
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from peak_memory import PeakMemory  # noqa: E402

LEARNERS = 5
NOTEBOOK = ROOT / "notebooks" / "02_self_attention.ipynb"
CHECKS = ("check_self_attention", "check_parameter_count", "check_cross_attention")
PROXY = "configurable-http-proxy@5.3.0"
PROXY_DIR = ROOT / ".cache" / "hub"
HUB_START_S, LEARNER_S, CELL_S, REQUEST_S = 60, 300, 120, 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proxy_command() -> Path:
    exe = PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
    if exe.exists():
        return exe
    if not shutil.which("npm"):  # .ci/run installs npm where it can
        pytest.skip("npm is missing: the hub test needs configurable-http-proxy "
                    "(sudo apt install npm, then run this test again)")
    PROXY_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix",
                    str(PROXY_DIR), PROXY], check=True, timeout=300)
    return exe


def _write_config(folder: Path, port: int, token: str, password: str) -> Path:
    venv_bin = Path(sys.executable).parent
    config = folder / "jupyterhub_config.py"
    config.write_text(f"""
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {_free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{_free_port()}"
c.ConfigurableHTTPProxy.command = [{str(_proxy_command())!r}]
c.ConfigurableHTTPProxy.pid_file = {str(folder / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{folder / 'hub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(folder / "cookie_secret")!r}
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(folder / "home" / "{username}")!r}
c.Spawner.cmd = [{str(venv_bin / "jupyterhub-singleuser")!r}]
c.Spawner.args = {["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []!r}
c.Spawner.notebook_dir = {str(ROOT)!r}
c.Spawner.environment = {{"MPLBACKEND": "agg"}}
c.Spawner.start_timeout = {LEARNER_S}
c.Spawner.http_timeout = {LEARNER_S}
c.JupyterHub.services = [{{"name": "course-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "course-test", "services": ["course-test"],
                             "scopes": ["admin:users", "tokens", "read:servers"]}}]
""")
    return config


class Hub:
    """A running JupyterHub and the requests this test makes of it."""

    def __init__(self, folder: Path):
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.password = secrets.token_hex(8)
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen = set()  # pids of the learners' servers and kernels
        config = _write_config(folder, self.port, self.token, self.password)
        self.log = open(folder / "hub.log", "w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)], cwd=folder,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + HUB_START_S
        while True:
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the hub did not answer within {HUB_START_S} s: "
                            f"{(folder / 'hub.log').read_text()[-3000:]}")
            time.sleep(0.5)

    def api(self, method, path, token=None, **kwargs):
        response = requests.request(method, f"{self.url}/hub/api/{path}", timeout=REQUEST_S,
                                    headers={"Authorization": f"token {token or self.token}"},
                                    **kwargs)
        return response

    def processes_of(self, name: str) -> list:
        """The learner's processes: their single-user server and its kernels."""
        found = []
        for process in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if process.environ().get("JUPYTERHUB_USER") == name:
                    found.append(process)
                    self.seen.add(process.pid)
            except psutil.Error:
                continue
        return found

    def stop(self):
        """End the hub, the proxy and every learner's server: the process group this test
        started (start_new_session), first politely, then for good."""
        if self.process.poll() is None:
            group = os.getpgid(self.process.pid)
            os.killpg(group, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
        for pid in self.seen:  # the hub stops its servers (cleanup_servers); if one is left
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass
        self.log.close()


def _login(hub: Hub, name: str) -> requests.Session:
    """The learner's browser: the login form (with its _xsrf field), as a person fills it."""
    session = requests.Session()
    page = session.get(f"{hub.url}/hub/login", timeout=REQUEST_S)
    page.raise_for_status()
    form = {"username": name, "password": hub.password, "_xsrf": session.cookies["_xsrf"]}
    answer = session.post(f"{hub.url}/hub/login", data=form, timeout=REQUEST_S,
                          allow_redirects=False)
    assert answer.status_code == 302, f"{name}: login answered {answer.status_code}"
    stranger = requests.Session()
    stranger.get(f"{hub.url}/hub/login", timeout=REQUEST_S).raise_for_status()
    wrong = stranger.post(f"{hub.url}/hub/login", timeout=REQUEST_S, allow_redirects=False,
                          data={**form, "password": "wrong-password",
                                "_xsrf": stranger.cookies["_xsrf"]})
    assert wrong.status_code != 302 and "jupyterhub-session-id" not in stranger.cookies, \
        f"a wrong password logged in as {name}"
    return session


def _learner_cells() -> list[str]:
    """What a learner runs: 02's code cells top to bottom (its exercises are stubs), then
    the notebook's own solutions (the "Solutions" block), then each check again."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    solutions = "\n".join(re.search(r"```python\n(.*?)```", "".join(c["source"]), re.DOTALL)[1]
                          for c in cells if "solution" in c["metadata"].get("tags", []))
    checks = [line for cell in code for line in cell.splitlines()
              if line.startswith("exercises.check_")]
    assert {c for c in CHECKS if any(c in line for line in checks)} == set(CHECKS), \
        f"{NOTEBOOK.name} has checks {checks}, expected {CHECKS} among them"
    return code + [solutions] + checks


def _run_notebook(hub: Hub, name: str, token: str) -> None:
    """Start the learner's server, open a kernel in notebooks/, run the learner's cells in
    order through the kernel's websocket; raise on the first cell that fails."""
    import websocket

    started = hub.api("POST", f"users/{name}/server", token=token)
    assert started.status_code in (201, 202), f"{name}: spawn answered {started.status_code}"
    deadline = time.monotonic() + LEARNER_S
    while not hub.api("GET", f"users/{name}", token=token).json()["servers"].get(
            "", {}).get("ready"):
        assert time.monotonic() < deadline, f"{name}: server not ready in {LEARNER_S} s"
        time.sleep(0.5)
    base, headers = f"{hub.url}/user/{name}/api", {"Authorization": f"token {token}"}
    kernel = requests.post(f"{base}/kernels", json={"name": "python3", "path": "notebooks"},
                           headers=headers, timeout=REQUEST_S)
    assert kernel.status_code == 201, f"{name}: kernel answered {kernel.status_code}"
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{hub.port}/user/{name}/api/kernels/{kernel.json()['id']}/channels",
        header=[f"Authorization: token {token}"], timeout=CELL_S)
    session = uuid.uuid4().hex
    try:
        for number, code in enumerate(_learner_cells()):
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                           "username": name, "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False,
                            "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            while True:
                raw = ws.recv()
                if isinstance(raw, bytes):  # a widget's message with binary buffers
                    continue
                message = json.loads(raw)
                if message["parent_header"].get("msg_id") != msg_id:
                    continue
                if message["msg_type"] == "execute_reply":
                    content = message["content"]
                    assert content["status"] == "ok", (
                        f"{name}: cell {number} of {NOTEBOOK.name} failed: "
                        f"{content.get('ename')}: {content.get('evalue')}")
                    break
                assert time.monotonic() < deadline, f"{name}: not done in {LEARNER_S} s"
    finally:
        ws.close()


@pytest.fixture
def hub(tmp_path):
    running = Hub(tmp_path)
    yield running
    running.stop()


def test_five_learners_at_once_each_with_their_own_server_kernel_and_progress(hub, tmp_path):
    names = [f"learner{i}" for i in range(1, LEARNERS + 1)]
    start = time.monotonic()
    sessions = {name: _login(hub, name) for name in names}  # each learner's browser
    tokens = {}
    for name in names:  # what the learner's browser holds after login, as a token
        answer = hub.api("POST", f"users/{name}/tokens", json={"note": "hub test"})
        assert answer.status_code == 201, answer.text
        tokens[name] = answer.json()["token"]
    errors, peaks = {}, {}

    def learner(name):
        with PeakMemory(lambda: hub.processes_of(name), interval=0.2) as peak:
            try:
                _run_notebook(hub, name, tokens[name])
            except BaseException as error:  # noqa: BLE001 - reported below, per learner
                errors[name] = error
        peaks[name] = peak.mib

    threads = [threading.Thread(target=learner, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=LEARNER_S + 60)
    seconds = time.monotonic() - start
    assert not any(t.is_alive() for t in threads), f"a learner ran past {LEARNER_S} s"
    assert not errors, f"learners failed: {errors}\n{(tmp_path / 'hub.log').read_text()[-3000:]}"

    # Each learner's server is their own: another learner's token cannot reach it.
    intruder = requests.get(f"{hub.url}/user/{names[0]}/api/kernels", timeout=REQUEST_S,
                            headers={"Authorization": f"token {tokens[names[1]]}"})
    assert intruder.status_code in (403, 404), intruder.status_code
    assert sessions[names[0]].cookies.get("jupyterhub-session-id")

    # Each learner passed 02's exercise checks, in a progress file of their own.
    files = {name: tmp_path / "home" / name / ".local/share/transformers-course/progress.json"
             for name in names}
    for name, path in files.items():
        passed = json.loads(path.read_text())["exercises"]
        assert {f"02/{check}" for check in CHECKS} <= set(passed), f"{name}: {sorted(passed)}"
    assert len({str(p.resolve()) for p in files.values()}) == LEARNERS

    report = {"learners": LEARNERS, "notebook": NOTEBOOK.name, "seconds": round(seconds, 1),
              "peak_mib_per_learner": {n: round(peaks[n]) for n in names},
              "cpu_count": os.cpu_count()}
    print(f"\nhub: {LEARNERS} learners ran {NOTEBOOK.name} in {seconds:.0f} s; peak memory "
          f"per learner (server + kernel): {sorted(report['peak_mib_per_learner'].values())} MiB")
    if os.environ.get("COURSE_HUB_REPORT"):
        Path(os.environ["COURSE_HUB_REPORT"]).write_text(json.dumps(report, indent=1) + "\n")
    assert all(peak > 50 for peak in peaks.values()), f"memory not measured: {peaks}"
