"""MLflow behind internal Cloud Run ingress and IAM: callers send a Google ID token whose audience is
the service URL (defect 4). No metadata server here, so the token source is handed in and the test
asserts what is asked for (the audience) and what MLflow's REST client will read (its variable)."""

from __future__ import annotations

import threading

from b2brec.backends.identity import TOKEN_ENV, authenticate_mlflow, needs_identity_token

URL = "https://mlflow-123456789012.europe-west3.run.app"


def test_only_cloud_run_urls_need_a_token() -> None:
    assert needs_identity_token(URL) and needs_identity_token(URL + "/")
    assert needs_identity_token("https://mlflow-abc123-ey.a.run.app")
    for local in ("http://127.0.0.1:5000", "https://mlflow.example.com", "https://evil.run.app.example.com", ""):
        assert not needs_identity_token(local), local


def test_the_token_is_for_the_service_url_and_kept_fresh() -> None:
    audiences: list[str] = []
    refreshed = threading.Event()

    def fetch(audience: str) -> str:
        audiences.append(audience)
        if len(audiences) > 1:
            refreshed.set()
        return f"token-{len(audiences)}"

    env: dict[str, str] = {}
    assert authenticate_mlflow(URL + "/", fetch=fetch, environ=env, refresh_s=0.05)
    assert env[TOKEN_ENV].startswith("token-") and audiences[0] == URL
    assert refreshed.wait(5), "the token is refreshed before it expires"
    assert set(audiences) == {URL}
    # a second call (another stage in the same process) leaves the managed token alone
    assert not authenticate_mlflow(URL, fetch=fetch, environ=env, refresh_s=None)


def test_local_servers_get_no_token() -> None:
    env: dict[str, str] = {}

    def fetch(audience: str) -> str:
        raise AssertionError("no token for a local server")

    assert not authenticate_mlflow("http://127.0.0.1:5000", fetch=fetch, environ=env)
    assert env == {}
