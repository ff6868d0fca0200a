from django.test import override_settings


def test_activate_then_write_and_read(device_client, connector):
    from tests.factories import make_resource

    make_resource(connector=connector, alias="temp", format="integer")
    token = device_client.post("/provision/activate", content="id=abc").text
    assert len(token) == 40
    headers = {"X-Exosite-CIK": token}
    assert device_client.post("/onep:v1/stack/alias", content="temp=21", headers=headers).status_code == 204
    response = device_client.get("/onep:v1/stack/alias?temp", headers=headers)
    assert response.status_code == 200
    assert response.text == "temp=21"


@override_settings(DEVICE_DEFAULT_CONNECTOR="")
def test_unknown_host_is_404(device_client):
    response = device_client.post("/provision/activate", content="id=abc", headers={"Host": "nowhere.example"})
    assert response.status_code == 404
