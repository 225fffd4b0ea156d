"""Starts a live Nudge (the binary named by NUDGE_BIN) on a free port with a fresh data
directory, for the official customerio Python SDK to talk to. The SDK is used unchanged: only
its base URL differs from Customer.io's. Readiness is the server's own "listening on" line;
nothing here waits by sleeping. With `virtual_clock`, the server runs on a virtual clock that
only `advance_clock` moves, and which answers once everything due has been done.
"""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15


class NudgeServer:
    """One `nudge serve` process and small clients for its App API."""

    def __init__(self, virtual_clock=None):
        binary = os.environ.get("NUDGE_BIN")
        if not binary:
            raise RuntimeError(
                "NUDGE_BIN is not set: point it at the nudge binary "
                "(or run scripts/sdk-tests-python.sh <binary>)"
            )
        self.data_dir = tempfile.mkdtemp(prefix="nudge-sdk-py-")
        self.log_path = os.path.join(self.data_dir, "nudge.log")
        env = dict(os.environ, NUDGE_LISTEN="127.0.0.1:0", NUDGE_DATA_DIR=self.data_dir)
        for inherited in ("NUDGE_DATABASE_URL", "NUDGE_VIRTUAL_CLOCK"):
            env.pop(inherited, None)
        args = [os.path.abspath(binary), "serve"]
        if virtual_clock:
            args += ["--virtual-clock", virtual_clock]
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        self.base_url = self._wait_until_listening()
        with open(os.path.join(self.data_dir, "credentials.json")) as file:
            self.creds = json.load(file)

    def _wait_until_listening(self):
        found = {}
        ready = threading.Event()

        def read_stdout():
            # Keeps reading for the server's whole life so its pipe never fills.
            for line in self.process.stdout:
                match = re.match(r"^listening on (https?://\S+)$", line.strip())
                if match and not ready.is_set():
                    found["url"] = match.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or "url" not in found:
            self.process.kill()
            raise RuntimeError(f"nudge did not start listening:\n{self.log_tail()}")
        return found["url"]

    def log_tail(self):
        with open(self.log_path) as file:
            return "".join(file.readlines()[-30:])

    def stop(self):
        """SIGTERM, then the exit code and the log's ERROR lines; removes the data directory."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        self.process.stdout.close()
        with open(self.log_path) as file:
            plain = re.sub(r"\x1b\[[0-9;]*m", "", file.read())
        errors = [line for line in plain.splitlines() if re.search(r"\sERROR\s", line)]
        if os.environ.get("NUDGE_KEEP_DATA"):
            print(f"# kept nudge data directory {self.data_dir}")
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code, errors

    def app(self, method, path, payload=None):
        """An App API call with a JSON body: (status, decoded body)."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.creds['app_api_key']}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def advance_clock(self, to):
        """Moves the virtual clock to `to` (RFC 3339); answers once everything due is done."""
        status, body = self.app("POST", "/v1/clock", {"advance_to": to})
        if status != 200:
            raise AssertionError(f"advancing the clock to {to}: {status} {body}")
        return body["now"]

    def now(self):
        """The virtual clock's time (RFC 3339)."""
        status, body = self.app("GET", "/v1/clock")
        if status != 200:
            raise AssertionError(f"reading the clock: {status} {body}")
        return body["now"]

    def settle(self):
        """Lets the server do everything due at its clock's time."""
        return self.advance_clock(self.now())

    def identify(self, identifier, attributes):
        """A Track API identify (`PUT /api/v1/customers/{id}`); its status."""
        token = f"{self.creds['site_id']}:{self.creds['track_api_key']}".encode()
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/customers/{urllib.parse.quote(identifier, safe='')}",
            data=json.dumps(attributes).encode(),
            method="PUT",
            headers={
                "Authorization": "Basic " + base64.b64encode(token).decode(),
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request) as response:
            return response.status
