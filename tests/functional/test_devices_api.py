"""Device endpoints beside the booking API: the booking API's OAuth2 roles, organisations and audit."""
from __future__ import annotations

import pytest

from mvc.api.openapi import model
from mvc.models import AuditEntry
from mvc.models.device import Device, DeviceCall
from tests.api_helpers import Api, make_client, meeting_body
from tests.functional.test_api import app, make_app, rows  # noqa: F401 - fixtures
from tests.conftest import LiveServer
from tests.functional.test_devices import answer_call, browser_bound, type_code


@pytest.fixture
def admin_api(app, client):
    return Api(client, *make_client(app, ["meeting-admin"]))


def checked(resp, name: str, status: int = 200):
    """The JSON answer, checked against the model the OpenAPI document names."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    data = resp.get_json()
    for item in data if isinstance(data, list) else [data]:
        model(name).model_validate(item)
    return data


def test_register_read_rename_code_revoke_and_bind(app, admin_api):
    made = checked(admin_api("POST", "/v2/devices", {"name": "Karens tablet", "note": "Stuen"}), "DeviceOut", 201)
    assert made["state"] == "waiting" and len(made["provisioningCode"]) == 9 and made["online"] is False
    tablet = app.test_client()
    assert type_code(tablet, made["provisioningCode"]).status_code == 302
    got = checked(admin_api("GET", f"/v2/devices/{made['id']}"), "DeviceOut")
    assert got["state"] == "bound" and "provisioningCode" not in got
    renamed = checked(admin_api("PATCH", f"/v2/devices/{made['id']}", {"name": "Stue", "autoAnswer": True}),
                      "DeviceOut")
    assert renamed["name"] == "Stue" and renamed["autoAnswer"] and renamed["note"] == "Stuen"
    assert [d["name"] for d in checked(admin_api("GET", "/v2/devices"), "DeviceOut")] == ["Stue"]
    fresh = checked(admin_api("POST", f"/v2/devices/{made['id']}/code"), "DeviceOut")
    assert fresh["provisioningCode"] != made["provisioningCode"]
    revoked = checked(admin_api("POST", f"/v2/devices/{made['id']}/revoke"), "DeviceOut")
    assert revoked["state"] == "unbound"
    assert "Gør enheden klar" in tablet.get("/device").get_data(as_text=True)  # back to the code screen
    assert admin_api("POST", "/v2/devices", {"name": "", "x": 1}).status_code == 400
    actions = {e.action for e in rows(app, AuditEntry)}
    assert {"device_created", "device_changed", "device_code", "device_revoked"} <= actions
    assert any(a.startswith("api.device") for a in actions)
    assert by_whom(app, "device_created", "device_changed", "device_code", "device_revoked") == {"Nexus"}
    assert by_whom(app, "device_bound") == {"device"}  # the tablet itself typed the code


def by_whom(app, *actions: str) -> set[str]:
    """Who the audit log names for these device actions (an API client by its name)."""
    found = [e for e in rows(app, AuditEntry) if e.action in actions]
    assert {e.action for e in found} == set(actions)
    return {e.user_email.removeprefix("api client ").split(" (")[0] for e in found}


def test_roles_decide_who_may_manage_read_and_call(app, client, admin_api):
    device = checked(admin_api("POST", "/v2/devices", {"name": "Tablet"}), "DeviceOut", 201)
    type_code(app.test_client(), device["provisioningCode"])
    user = Api(client, *make_client(app, ["meeting-user"], name="Nexus user"))
    provisioner = Api(client, *make_client(app, ["meeting-provisioner"], name="Provisioner"))
    assert user("GET", "/v2/devices").status_code == 403
    assert user("POST", "/v2/devices", {"name": "X"}).status_code == 403
    assert provisioner("POST", f"/v2/devices/{device['id']}/call").status_code == 403
    assert provisioner("GET", "/v2/devices").status_code == 200
    call = checked(user("POST", f"/v2/devices/{device['id']}/call"), "CallOut", 201)
    assert call["status"] == "offline"  # the tablet has no open screen
    assert by_whom(app, "device_call") == {"Nexus user"}
    assert checked(user("GET", f"/v2/devices/calls/{call['id']}"), "CallOut")["status"] == "offline"
    assert client.get("/v2/devices").status_code == 401


def test_another_organisations_device_is_not_found(app, client, admin_api):
    device = checked(admin_api("POST", "/v2/devices", {"name": "Tablet"}), "DeviceOut", 201)
    other = Api(client, *make_client(app, ["meeting-admin"], org_slug="anden-kommune", name="Other"))
    for method, path in (("GET", f"/v2/devices/{device['id']}"), ("POST", f"/v2/devices/{device['id']}/revoke"),
                         ("POST", f"/v2/devices/{device['id']}/call"), ("GET", "/v2/devices/nope")):
        assert other(method, path).status_code == 404
    assert other("GET", "/v2/devices").get_json() == []
    assert rows(app, Device)[0].code_hash is not None


def test_calling_into_a_booked_meeting(app, client, admin_api):
    device = checked(admin_api("POST", "/v2/devices", {"name": "Tablet"}), "DeviceOut", 201)
    type_code(app.test_client(), device["provisioningCode"])
    planner = Api(client, *make_client(app, ["meeting-planner"], name="Planner"))
    uuid = planner("POST", "/v2/meetings", meeting_body()).get_json()["uuid"]
    call = checked(planner("POST", f"/v2/devices/{device['id']}/call", {"meetingUuid": uuid}), "CallOut", 201)
    [row] = rows(app, DeviceCall)
    assert row.id == call["id"] and "/m/" in call["joinUrl"]
    assert planner("POST", f"/v2/devices/{device['id']}/call", {"meetingUuid": "0" * 36}).status_code == 404


def test_a_device_credential_is_no_api_token(app, admin_api):
    device = checked(admin_api("POST", "/v2/devices", {"name": "Tablet"}), "DeviceOut", 201)
    tablet = app.test_client()
    assert type_code(tablet, device["provisioningCode"]).status_code == 302
    credential = tablet.get_cookie("mvc_device_key").value
    for path in ("/v2/devices", f"/v2/devices/{device['id']}", "/v2/meetings", "/v2/info"):
        assert tablet.get(path).status_code == 401
        assert tablet.get(path, headers={"Authorization": f"Bearer {credential}"}).status_code == 401


def test_through_the_api_a_device_in_a_call_is_busy_and_revoking_takes_it_out(app, admin_api):
    device = checked(admin_api("POST", "/v2/devices", {"name": "Tablet"}), "DeviceOut", 201)
    server = LiveServer(app)
    try:
        browser = browser_bound(server, code=device["provisioningCode"])
        meeting, page = answer_call(app, server, browser, lambda: admin_api("POST", f"/v2/devices/{device['id']}/call"))
        busy = checked(admin_api("POST", f"/v2/devices/{device['id']}/call"), "CallOut", 201)
        assert busy["status"] == "busy"
        checked(admin_api("POST", f"/v2/devices/{device['id']}/revoke"), "DeviceOut")
        page.wait_text('data-view="removed"')
        assert app.extensions["mvc.live"].get(meeting.id).participants == {}
        assert "Gør enheden klar" in browser.get(f"{server.url}/device").text
        page.close()
    finally:
        server.stop()
