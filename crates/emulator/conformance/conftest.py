"""Fixtures for the msgraph-sdk conformance suite.

`run.sh` starts `tenantvault-emulator serve` and exports its first stdout line (a JSON
object with the URL and credentials) as EMULATOR_INFO. Every test builds its own
GraphServiceClient inside `asyncio.run`, pointed at the emulator over plain http.
"""

import json
import os
import time

import httpx
import pytest
from azure.core.credentials import AccessToken
from kiota_abstractions.authentication import AnonymousAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core.authentication import AzureIdentityAuthenticationProvider

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class EmulatorCredential:
    """A TokenCredential that runs the client-credentials grant against the emulator's
    token endpoint over http (azure-identity insists on https authorities)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str):
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.requests = 0
        self._cached = None

    def get_token(self, *scopes, claims=None, tenant_id=None, enable_cae=False, **kwargs) -> AccessToken:
        if self._cached and self._cached.expires_on - 60 > time.time():
            return self._cached
        form = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": " ".join(scopes) or GRAPH_SCOPE,
            "grant_type": "client_credentials",
        }
        r = httpx.post(self.token_url, data=form, timeout=30)
        r.raise_for_status()
        body = r.json()
        self.requests += 1
        self._cached = AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))
        return self._cached


class Emulator:
    def __init__(self, info: dict):
        self.info = info
        self.url = info["url"]
        self.graph_url = info["graphUrl"]
        self.credential = EmulatorCredential(info["tokenUrl"], info["clientId"], info["clientSecret"])

    def client(self) -> GraphServiceClient:
        """A Graph client whose requests go to the emulator with a bearer token."""
        auth = AzureIdentityAuthenticationProvider(
            self.credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1", "localhost"]
        )
        adapter = GraphRequestAdapter(auth)
        adapter.base_url = self.graph_url
        return GraphServiceClient(request_adapter=adapter)

    def anonymous_adapter(self) -> GraphRequestAdapter:
        """An adapter that sends no Authorization header (for pre-authenticated upload URLs,
        which on real tenants live on hosts outside the SDK's allowed list)."""
        adapter = GraphRequestAdapter(AnonymousAuthenticationProvider())
        adapter.base_url = self.graph_url
        return adapter

    def admin(self, path: str, body: dict) -> dict:
        r = httpx.post(f"{self.url}{path}", json=body, timeout=30)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def emulator() -> Emulator:
    raw = os.environ.get("EMULATOR_INFO")
    if not raw:
        pytest.fail("EMULATOR_INFO is not set; run the suite through crates/emulator/conformance/run.sh")
    return Emulator(json.loads(raw))
