"""Microsoft's own Python SDK (msgraph-sdk) as the client of the tenantvault emulator.

If the emulator drifts from Graph's URLs, JSON shapes, paging, delta or content
semantics, the SDK's generated models and tasks fail here.
"""

import asyncio
import email
import io
import os

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.drives.item.items.item.create_upload_session.create_upload_session_post_request_body import (
    CreateUploadSessionPostRequestBody,
)
from msgraph.generated.models.drive_item_uploadable_properties import DriveItemUploadableProperties
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core.tasks.page_iterator import PageIterator


def run(coro):
    return asyncio.run(coro)


def quick_xor_hash(data: bytes) -> str:
    """Reference QuickXorHash (OneDrive docs), independent of the emulator's Rust code."""
    import base64

    width, shift = 160, 11
    reg = 0
    for i, b in enumerate(data):
        off = (i * shift) % width
        v = b << off
        reg ^= (v | (v >> width)) & ((1 << width) - 1)
    out = bytearray(reg.to_bytes(20, "little"))
    for i, lb in enumerate(len(data).to_bytes(8, "little")):
        out[12 + i] ^= lb
    return base64.b64encode(bytes(out)).decode()


def test_quick_xor_reference_vector():
    assert quick_xor_hash(b"hello world") == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="


async def _licensed_users(client):
    qp = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        top=3, select=["id", "displayName", "userPrincipalName", "assignedLicenses", "mail"]
    )
    first = await client.users.get(request_configuration=RequestConfiguration(query_parameters=qp))
    users, pages = [], []

    def collect(u):
        users.append(u)
        return True

    it = PageIterator(first, client.request_adapter)
    pages.append(first)
    await it.iterate(collect)
    return first, users


def test_list_users_with_page_iterator(emulator):
    async def go():
        client = emulator.client()
        first, users = await _licensed_users(client)
        assert first.odata_next_link and first.odata_next_link.startswith(emulator.graph_url)
        assert len(first.value) == 3
        assert len(users) == emulator.info["users"]
        ids = [u.id for u in users]
        assert len(set(ids)) == len(ids), "no duplicates across pages"
        assert all(u.user_principal_name for u in users)

    run(go())


async def _mail_user(client):
    _, users = await _licensed_users(client)
    for u in users:
        if u.assigned_licenses and u.mail:
            return u
    pytest.fail("no licensed user with a mailbox")


def test_messages_delta_to_delta_link_and_mime(emulator):
    async def go():
        client = emulator.client()
        user = await _mail_user(client)
        inbox = client.users.by_user_id(user.id).mail_folders.by_mail_folder_id("inbox")
        page = await inbox.messages.delta.get()
        messages, rounds = list(page.value), 1
        while page.odata_next_link:
            page = await inbox.messages.delta.with_url(page.odata_next_link).get()
            messages.extend(page.value)
            rounds += 1
        assert page.odata_delta_link, "a round ends with a deltaLink"
        assert messages, "the inbox has messages"
        assert rounds >= 2 or len(messages) <= 10, "default page size is 10"
        # The next round from the deltaLink: no changes, still a deltaLink.
        again = await inbox.messages.delta.with_url(page.odata_delta_link).get()
        assert again.odata_delta_link and not again.value
        # MIME of one message agrees with its JSON.
        m = messages[0]
        mime = await client.users.by_user_id(user.id).messages.by_message_id(m.id).content.get()
        parsed = email.message_from_bytes(mime)
        assert parsed["Message-ID"] or parsed["Message-Id"]
        full = await client.users.by_user_id(user.id).messages.by_message_id(m.id).get()
        assert full.internet_message_id == (parsed["Message-ID"] or parsed["Message-Id"]).strip()

    run(go())


async def _onedrive(client):
    _, users = await _licensed_users(client)
    for u in users:
        if not u.assigned_licenses:
            continue
        try:
            return u, await client.users.by_user_id(u.id).drive.get()
        except ODataError:
            continue
    pytest.fail("no user with a OneDrive")


async def _walk_delta(client, drive_id):
    root = client.drives.by_drive_id(drive_id).items.by_drive_item_id("root")
    page = await root.delta.get()
    items = list(page.value)
    pages = 1
    while page.odata_next_link:
        page = await root.delta.with_url(page.odata_next_link).get()
        items.extend(page.value)
        pages += 1
    return items, page.odata_delta_link, pages


def test_walk_drive_delta(emulator):
    async def go():
        client = emulator.client()
        _, drive = await _onedrive(client)
        assert drive.drive_type == "business"
        items, delta_link, _ = await _walk_delta(client, drive.id)
        assert delta_link and delta_link.startswith(emulator.graph_url)
        assert items[0].root is not None, "the root comes first"
        files = [i for i in items if i.file is not None]
        assert files
        for i in items:
            assert i.parent_reference is None or i.parent_reference.path is None, "no path in delta"
        for f in files:
            assert f.file.hashes.quick_xor_hash
        # A change shows up in the next round, a deletion with the deleted facet.
        victim = files[-1]
        await client.drives.by_drive_id(drive.id).items.by_drive_item_id(victim.id).delete()
        root = client.drives.by_drive_id(drive.id).items.by_drive_item_id("root")
        page = await root.delta.with_url(delta_link).get()
        gone = [i for i in page.value if i.id == victim.id]
        assert gone and gone[0].deleted is not None and gone[0].name is None

    run(go())


def test_download_follows_redirect(emulator):
    async def go():
        client = emulator.client()
        _, drive = await _onedrive(client)
        items, _, _ = await _walk_delta(client, drive.id)
        small = [i for i in items if i.file is not None and 0 < (i.size or 0) < 2_000_000]
        assert small
        item = small[0]
        data = await client.drives.by_drive_id(drive.id).items.by_drive_item_id(item.id).content.get()
        assert len(data) == item.size
        assert quick_xor_hash(data) == item.file.hashes.quick_xor_hash
        # The redirect target needs no Authorization and honours Range.
        r = httpx.get(f"{emulator.graph_url}/drives/{drive.id}/items/{item.id}/content",
                      headers={"Authorization": f"Bearer {emulator.credential.get_token().token}"}, timeout=30)
        assert r.status_code == 302
        ranged = httpx.get(r.headers["location"], headers={"Range": "bytes=0-9"}, timeout=30)
        assert ranged.status_code == 206 and ranged.content == data[:10]

    run(go())


def test_upload_through_upload_session(emulator):
    async def go():
        client = emulator.client()
        _, drive = await _onedrive(client)
        payload = os.urandom(327_680 * 3 + 12_345)
        props = DriveItemUploadableProperties()
        props.additional_data = {"@microsoft.graph.conflictBehavior": "replace"}
        body = CreateUploadSessionPostRequestBody()
        body.item = props
        target = client.drives.by_drive_id(drive.id).items.by_drive_item_id("root:/Conformance/upload.bin:")
        session = await target.create_upload_session.post(body)
        assert session.upload_url.startswith(emulator.url)
        assert session.next_expected_ranges == ["0-"]
        # The fragments go to the pre-authenticated URL without Authorization, each a multiple of
        # 320 KiB except the last, following nextExpectedRanges. (msgraph-core 1.5.2's
        # LargeFileUploadTask cannot parse Graph's open-ended "N-" ranges: it appends another "-"
        # and fails on int(''), so the fragments are sent here directly.)
        chunk = 327_680 * 2
        offset, last = 0, None
        async with httpx.AsyncClient(timeout=30) as http:
            while offset < len(payload):
                end = min(offset + chunk, len(payload))
                last = await http.put(session.upload_url, content=payload[offset:end],
                                      headers={"Content-Range": f"bytes {offset}-{end - 1}/{len(payload)}"})
                if end < len(payload):
                    assert last.status_code == 202, last.text
                    offset = int(last.json()["nextExpectedRanges"][0].split("-")[0])
                    assert offset == end
                else:
                    offset = end
        assert last.status_code in (200, 201), last.text
        assert last.json()["size"] == len(payload)
        item = await client.drives.by_drive_id(drive.id).items.by_drive_item_id("root:/Conformance/upload.bin:").get()
        assert item.size == len(payload)
        assert item.file.hashes.quick_xor_hash == quick_xor_hash(payload)
        back = await client.drives.by_drive_id(drive.id).items.by_drive_item_id(item.id).content.get()
        assert back == payload
        # The same URL with the bearer token is refused, as Graph does.
        s2 = await target.create_upload_session.post(body)
        r = httpx.put(s2.upload_url, content=b"x", timeout=30,
                      headers={"Content-Range": "bytes 0-0/1", "Authorization": f"Bearer {emulator.credential.get_token().token}"})
        assert r.status_code == 401

    run(go())


def test_throttle_gives_retry_after(emulator):
    async def go():
        client = emulator.client()
        _, drive = await _onedrive(client)
        emulator.admin("/_emulator/throttling", {"enabled": True, "sharepointRuPerMinute": 6, "reset": True})
        try:
            no_retry = RequestConfiguration(options=[RetryHandlerOption(max_retries=0, should_retry=False)])
            err = None
            for _ in range(20):
                try:
                    await client.drives.by_drive_id(drive.id).get(request_configuration=no_retry)
                except ODataError as e:
                    err = e
                    break
            assert err is not None, "throttled within the budget"
            assert err.response_status_code == 429
            headers = {k.lower(): v for k, v in (err.response_headers or {}).items()}
            retry_after = headers.get("retry-after")
            assert retry_after, headers
            value = retry_after[0] if isinstance(retry_after, (list, tuple, set)) else retry_after
            value = next(iter(value)) if isinstance(value, set) else value
            assert int(value) >= 1
            assert err.error.code == "activityLimitReached"
        finally:
            emulator.admin("/_emulator/throttling", {"enabled": False, "reset": True})

    run(go())
