"""SecretMasker on plain text and notebooks; kubeconfig secrets (no kernel)."""

from __future__ import annotations

import base64

import nbformat
import pytest

from runbook.report.masking import SecretMasker, is_secret_name, kubeconfig_secrets

from .conftest import PlantedKubeconfig, fake_jwt, fake_pem


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer [masked]"),
    ("authorization: Basic b3BzOnNlY3JldA==", "authorization: Basic [masked]"),
    ("{'Authorization': 'abcdef123456'}", "{'Authorization': '[masked]'}"),
    ('"Authorization": "Bearer x.y.z-123456"', '"Authorization": "Bearer [masked]"'),
    ("curl -H 'Authorization: Bearer sha256~AbCdEf_123-xyz'", "curl -H 'Authorization: Bearer [masked]'"),
    ("    token: 9f8e7d6c5b4a", "    token: [masked]"),
    ('{"password": "hunter2!"}', '{"password": "[masked]"}'),
    ("client-key-data=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", "client-key-data=[masked]"),
    ("kubectl --token=abc123def456 get pods", "kubectl --token=[masked] get pods"),
    ("https://ops:s3cr3tpass@registry.example/v2/", "https://ops:[masked]@registry.example/v2/"),
    # not secrets: left alone
    ("service-account-token volumes: 3", "service-account-token volumes: 3"),
    ("tokenFile: /var/run/secrets/token", "tokenFile: /var/run/secrets/token"),
    ("password = None", "password = None"),
    ("namespace: istio-canary", "namespace: istio-canary"),
    ("https://istiod-1-18-5.istio-canary.svc:443/inject", "https://istiod-1-18-5.istio-canary.svc:443/inject"),
])
def test_patterns(text: str, expected: str) -> None:
    assert SecretMasker().mask(text) == expected


def test_pem_blocks_keep_their_frame_and_lose_their_body() -> None:
    pem = fake_pem("RSA PRIVATE KEY")
    masked = SecretMasker().mask(f"key:\n{pem}done")
    assert masked == "key:\n-----BEGIN RSA PRIVATE KEY-----[masked]-----END RSA PRIVATE KEY-----\ndone"
    # escaped newlines (a JSON string or a repr) and a block cut off before its END line
    assert "[masked]" in SecretMasker().mask(repr(pem)) and pem.splitlines()[1] not in SecretMasker().mask(
        repr(pem))
    cut = "\n".join(pem.splitlines()[:3])
    assert SecretMasker().mask(cut) == "-----BEGIN RSA PRIVATE KEY-----[masked]"
    # base64 of a PEM block (kubeconfig *-data, webhook caBundle)
    data = base64.b64encode(pem.encode()).decode()
    assert SecretMasker().mask(f"caBundle: {data}") == "caBundle: [masked]"


def test_jwts_are_masked_anywhere() -> None:
    jwt = fake_jwt()
    assert SecretMasker().mask(f"the service account token is {jwt}.") == (
        "the service account token is [masked].")


def test_known_values_are_masked_in_every_spelling_and_masking_is_idempotent() -> None:
    secret = 'p&ss"word<with>quotes'
    masker = SecretMasker([secret, "short"])
    text = f"{secret} | {secret.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}" \
           f" | {secret.replace(chr(34), chr(92) + chr(34))}"
    masked = masker.mask(text)
    assert "ss" not in masked.replace("[masked]", ""), masked
    assert masker.mask(masked) == masked
    # values shorter than 6 characters are not masked by exact match (they would blank words)
    assert masker.mask("a short note") == "a short note"


def test_mask_notebook_covers_sources_outputs_tracebacks_and_metadata() -> None:
    secret = "tok-0123456789abcdef"
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {"api_token": secret, "namespace": "bookinfo"}}
    cell = nbformat.v4.new_code_cell(f'api_token = "{secret}"')
    cell.metadata["note"] = f"uses {secret}"
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"using {secret}\n"),
        nbformat.v4.new_output("display_data", data={"text/html": f"<b>{secret}</b>",
                                                     "application/json": {"nested": [secret]},
                                                     "image/png": "iVBORw0KGgo="},
                               metadata={"planted": secret}),
        nbformat.v4.new_output("error", ename="RuntimeError", evalue=f"bad {secret}",
                               traceback=[f"\x1b[31mRuntimeError\x1b[0m: bad {secret}"]),
    ]
    nb.cells = [cell]
    masked = SecretMasker([secret]).mask_notebook(nb)
    assert secret not in nbformat.writes(masked)
    assert masked.metadata.papermill.parameters == {"api_token": "[masked]", "namespace": "bookinfo"}
    assert masked.cells[0].outputs[1].data["image/png"] == "iVBORw0KGgo="  # binary: untouched


@pytest.mark.parametrize(("name", "secret"), [
    ("token", True), ("api_token", True), ("db-password", True), ("client_secret", True),
    ("apikey", True), ("auth", True), ("tokens", False), ("namespace", False),
    ("kubeconfig", False), ("author", False), ("token_file", False),
])
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_kubeconfig_secrets_finds_every_user_and_cluster_secret(
        planted_kubeconfig: PlantedKubeconfig) -> None:
    found = kubeconfig_secrets([planted_kubeconfig.path, planted_kubeconfig.path.parent / "missing"])
    for name, value in planted_kubeconfig.secrets.items():
        assert value in found or any(value in f for f in found), name
    # the decoded PEM of *-data is known too, so a printed key is masked exactly
    key_pem = base64.b64decode(planted_kubeconfig.secrets["client-key-data"]).decode().strip()
    assert key_pem in found
    assert planted_kubeconfig.server not in found
