"""Shared by the client check scripts in this folder: recording checks and the JSON summary.

A check script runs a fixed scenario against one broker, records every comparison with
`Checks.equal` / `Checks.expect` (a mismatch is recorded, not raised, so one run shows every
mismatch), raises on anything that makes going on pointless, and ends with `Checks.finish`:
one JSON object on the last line of stdout, exit status 0 only if nothing failed.
Diagnostics go to stderr.
"""

import json
import sys
import time
import traceback

# Every wait in the scripts is bounded by this many seconds unless said otherwise.
STEP_TIMEOUT_S = 30.0


class StepTimeout(Exception):
    """A bounded wait ran out."""


class Checks:
    def __init__(self, name):
        self.name = name
        self.started = time.monotonic()
        self.step = "start"
        self.passed = 0
        self.failures = []
        self.summary = {}

    def log(self, message):
        elapsed = time.monotonic() - self.started
        print(f"[{self.name} +{elapsed:6.2f}s] {message}", file=sys.stderr, flush=True)

    def begin(self, step):
        """Names the step that follows, for messages."""
        self.step = step
        self.log(f"step: {step}")

    def expect(self, what, condition, detail=""):
        if condition:
            self.passed += 1
            return True
        message = f"{self.step}: {what}" + (f": {detail}" if detail else "")
        self.failures.append(message)
        self.log(f"FAILED {message}")
        return False

    def equal(self, what, actual, expected):
        return self.expect(what, actual == expected, f"expected {expected!r}, got {actual!r}")

    def wait_until(self, what, probe, timeout_s=STEP_TIMEOUT_S, interval_s=0.2):
        """Calls probe() until it returns a true value, which is returned; raises StepTimeout."""
        deadline = time.monotonic() + timeout_s
        last = None
        while True:
            last = probe()
            if last:
                return last
            if time.monotonic() >= deadline:
                raise StepTimeout(f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})")
            time.sleep(interval_s)

    def run(self, scenario):
        """Runs scenario(self), prints the summary, and exits with the right status."""
        error = None
        try:
            scenario(self)
        except Exception as exc:  # noqa: BLE001 - anything that stops the scenario is reported
            error = f"{self.step}: {type(exc).__name__}: {exc}"
            self.log(f"ABORTED {error}")
            traceback.print_exc(file=sys.stderr)
        ok = error is None and not self.failures
        summary = {
            "ok": ok,
            "script": self.name,
            "passed_checks": self.passed,
            "failures": self.failures + ([error] if error else []),
            "aborted_at": self.step if error else None,
            "elapsed_s": round(time.monotonic() - self.started, 2),
        }
        summary.update(self.summary)
        sys.stdout.flush()
        print(json.dumps(summary, sort_keys=True, default=str), flush=True)
        sys.exit(0 if ok else 1)
