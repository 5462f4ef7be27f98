"""A real OpenID Connect provider for tests: the certified `oidc-provider` from npm, run by node
(testutils/oidc_provider/provider.mjs, installed by `make test`: scripts/bootstrap.sh runs
`npm ci` there; Node.js 20 or newer). Accounts, any password: olivia (group support-operators), audrey
(support-auditors) and nina (neither). Its development sign-in pages ask for a login and a
password, then for consent ("Continue")."""

import contextlib
import shutil
import time
from pathlib import Path

from scripts import pids
from scripts.common import REPO, free_port

FOLDER = REPO / "testutils" / "oidc_provider"
CLIENT_ID = "autoflow-test"
CLIENT_SECRET = "autoflow-test-secret-0123456789abcdef"
OPERATOR_GROUP, AUDITOR_GROUP = "support-operators", "support-auditors"


def reserve_issuer() -> str:
    """An issuer URL on a free loopback port, for configuring AutoFlow before the provider starts."""
    return f"http://127.0.0.1:{free_port()}"


@contextlib.contextmanager
def oidc_provider(folder: Path, issuer: str, redirect_uri: str):
    """The provider at `issuer` (from reserve_issuer) for the block, its one client allowed to
    return to `redirect_uri`; stopped afterwards whatever happens (a registered process of its
    own session, dying with its parent: scripts/pids.py)."""
    node = shutil.which("node")
    assert node, "node not found (make test needs Node.js for the OpenID Connect provider)"
    assert (FOLDER / "node_modules" / "oidc-provider").is_dir(), "run `npm ci` in testutils/oidc_provider (make test does)"
    ready = Path(folder) / "oidc-issuer"
    ready.unlink(missing_ok=True)
    port = issuer.rsplit(":", 1)[1]
    with open(Path(folder) / "oidc-provider.log", "ab") as log:
        proc = pids.spawn([node, "provider.mjs", str(ready), port, CLIENT_ID, CLIENT_SECRET, redirect_uri],
                          label="oidc-provider", cwd=FOLDER, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not (ready.exists() and ready.read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the OIDC provider did not start: {(Path(folder) / 'oidc-provider.log').read_text()}")
            time.sleep(0.05)
        assert ready.read_text() == issuer
        yield issuer
    finally:
        if pids.exited(proc) is None:
            proc.terminate()
        pids.wait_exit(proc, 10)
        pids.end_group(proc)  # SIGKILL to whatever is left, then reaped
